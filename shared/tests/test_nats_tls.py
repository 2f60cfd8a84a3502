"""A service connects to a TLS-only nats-server with the CA from its settings, and logs in as its user."""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from slm_shared.bus import Bus
from slm_shared.bus.auth import NatsAuth
from slm_shared.settings import ServiceSettings
from slm_shared.testing.nats_server import NatsServer


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def write_certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A CA, and a server certificate for 127.0.0.1 signed by it: (ca, cert, key) files."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("test CA"))
        .issuer_name(_name("test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("127.0.0.1"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .sign(ca_key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    paths = folder / "ca.crt", folder / "tls.crt", folder / "tls.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return paths


@pytest.fixture
def tls_nats(tmp_path: Path) -> Iterator[tuple[NatsServer, NatsAuth, Path]]:
    ca, cert, key = write_certificates(tmp_path / "tls")
    auth = NatsAuth.generate()
    server = NatsServer(tmp_path / "nats", auth=auth, tls=(cert, key), sync_always=False).start()
    yield server, auth, ca
    server.stop()


async def test_a_service_connects_over_tls_with_the_ca_from_its_settings(
    tls_nats: tuple[NatsServer, NatsAuth, Path],
) -> None:
    server, auth, ca = tls_nats
    assert server.url.startswith("tls://")
    settings = ServiceSettings(
        nats_url=server.url, nats_user="catalog", nats_password=auth.users["catalog"].password, nats_tls_ca=ca
    )
    bus = Bus(settings.nats_url, name="catalog", credentials=settings.nats_credentials)
    await bus.connect(attempts=3)
    try:
        await bus.ensure_platform_streams()
        ack = await bus.js.publish("slm.catalog.service.created", b"{}")
        assert ack.seq >= 1
    finally:
        await bus.close()
    # Without the CA the server's certificate is not trusted; over plain TCP the server refuses.
    untrusting = ServiceSettings(nats_url=server.url, nats_user="catalog", nats_password=auth.users["catalog"].password)
    with pytest.raises(Exception):  # noqa: B017 - nats-py reports the TLS failure in several types
        await nats.connect(
            server.url, allow_reconnect=False, connect_timeout=2, **untrusting.nats_credentials.connect_options()
        )
    with pytest.raises(Exception):  # noqa: B017
        await nats.connect(
            server.url.replace("tls://", "nats://"),
            allow_reconnect=False,
            connect_timeout=2,
            user="catalog",
            password=auth.users["catalog"].password,
        )
