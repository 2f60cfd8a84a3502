"""The pooled connections SafeHttp keeps per target: reused, dropped when the receiver closed them, TLS with SNI."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from slm_notifier.channels import SafeHttp
from slm_notifier.channels import http as http_module
from slm_notifier.channels.http import _KnownSocketStream


class KeepAliveReceiver:
    """Answers 204 and keeps the connection open, unless told to close it after the next answer."""

    def __init__(self) -> None:
        self.connections = 0
        self.requests = 0
        self.close_after_next = False
        self._server: asyncio.Server | None = None
        self.port = 0

    async def start(self, ssl_context: ssl.SSLContext | None = None) -> KeepAliveReceiver:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=ssl_context)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.decode("latin-1").split("\r\n")[1:]:
                    name, _, value = line.partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value)
                await reader.readexactly(length)
                self.requests += 1
                writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")  # keep-alive: HTTP/1.1's default
                await writer.drain()
                if self.close_after_next:
                    self.close_after_next = False
                    break  # closed by the receiver, no `Connection: close` said beforehand
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


async def test_connections_are_reused_and_one_the_receiver_closed_is_not() -> None:
    receiver = await KeepAliveReceiver().start()
    http = SafeHttp(allow_private_targets=True, timeout_seconds=5)
    url = f"http://127.0.0.1:{receiver.port}/hook"
    try:
        for _ in range(3):
            assert (await http.request("POST", url, content=b"{}")).status_code == 204
        assert receiver.connections == 1  # kept alive and reused

        receiver.close_after_next = True
        assert (await http.request("POST", url, content=b"{}")).status_code == 204
        await asyncio.sleep(0.2)  # the receiver's FIN reaches the idle pooled connection
        # the pool sees the idle connection readable (closed by its peer) and opens a new one, instead
        # of sending on the dead one and failing with "server disconnected"
        assert (await http.request("POST", url, content=b"{}")).status_code == 204
        assert receiver.connections == 2
        assert receiver.requests == 5
    finally:
        await http.close()
        await receiver.stop()


def _certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for `localhost` (its own CA), and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file


async def test_https_target_is_reached_at_its_checked_address_with_the_hostname_verified(tmp_path: Path) -> None:
    cert_file, key_file = _certificate(tmp_path)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert_file, key_file)
    receiver = await KeepAliveReceiver().start(server_context)
    http = SafeHttp(allow_private_targets=True, timeout_seconds=5)
    http._ssl.load_verify_locations(cafile=str(cert_file))  # trust the test's own CA
    try:
        for _ in range(2):
            answer = await http.request("POST", f"https://localhost:{receiver.port}/hook", content=b"{}")
            assert answer.status_code == 204
        assert receiver.connections == 1  # the TLS connection is pooled and reused too
        pool = next(iter(http._clients.values()))._transport._pool  # type: ignore[attr-defined]
        (connection,) = pool.connections
        stream = connection._connection._network_stream
        assert isinstance(stream, _KnownSocketStream)  # TLS wrapped the stream, the socket is still known
        assert stream.get_extra_info("ssl_object").server_hostname == "localhost"  # SNI, not the address
        assert ipaddress.ip_address(stream.get_extra_info("server_addr")[0]).is_loopback
        assert stream.get_extra_info("is_readable") is False  # idle and open
    finally:
        await http.close()
        await receiver.stop()


async def test_past_the_bound_the_least_recently_used_client_is_closed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One pooled client per (scheme, host, port), at most `MAX_CLIENTS`: the one used least lately goes and its
    connections are closed, the one used again meanwhile stays (its connection reused)."""
    monkeypatch.setattr(http_module, "MAX_CLIENTS", 2)
    receivers = [await KeepAliveReceiver().start() for _ in range(3)]
    http = SafeHttp(allow_private_targets=True, timeout_seconds=5)
    urls = [f"http://127.0.0.1:{receiver.port}/hook" for receiver in receivers]
    try:
        for url in urls[:2]:
            assert (await http.request("POST", url, content=b"{}")).status_code == 204
        first, second = http._clients.values()
        assert (await http.request("POST", urls[0], content=b"{}")).status_code == 204  # `second` now used least
        assert (await http.request("POST", urls[2], content=b"{}")).status_code == 204
        for _ in range(100):
            if second.is_closed:
                break
            await asyncio.sleep(0.01)
        assert second.is_closed and not first.is_closed
        assert len(http._clients) == 2 and first in http._clients.values()
        assert (await http.request("POST", urls[0], content=b"{}")).status_code == 204
        assert [receiver.connections for receiver in receivers] == [1, 1, 1]  # `first` kept its connection
    finally:
        await http.close()
        for receiver in receivers:
            await receiver.stop()
