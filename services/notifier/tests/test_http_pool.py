"""The pooled connections SafeHttp keeps per target: reused, dropped when the receiver closed them, TLS with SNI;
a request in one write, no cookies kept, answers uncompressed."""

from __future__ import annotations

import asyncio
import datetime
import gzip
import ipaddress
import json
import socket
import ssl
import struct
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from slm_notifier.channels import SafeHttp
from slm_notifier.channels import http as http_module
from slm_notifier.channels.http import _KnownSocketStream, attempt

COUNTS_SEGMENTS = sys.platform == "linux"  # struct tcp_info's layout below is Linux's

TCP_INFO_DATA_SEGS_IN = 152  # offset of `tcpi_data_segs_in` (segments that carried data) in Linux's struct tcp_info


def data_segments_in(writer: asyncio.StreamWriter) -> int:
    """How many TCP segments with data the connection has received so far."""
    info = writer.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
    return int(struct.unpack_from("I", info, TCP_INFO_DATA_SEGS_IN)[0])


class KeepAliveReceiver:
    """Answers 204 and keeps the connection open, unless told to close it after the next answer.

    Keeps each request's head and the TCP segments it came in. `answer` replaces the 204 (status line,
    headers and body, as bytes) when set."""

    def __init__(self, answer: Any = None) -> None:
        self.connections = 0
        self.requests = 0
        self.close_after_next = False
        self.answer = answer
        self.heads: list[dict[str, str]] = []
        self.segments: list[int] = []
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
        segments = 0
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                fields = {}
                for line in head.decode("latin-1").split("\r\n")[1:]:
                    name, _, value = line.partition(":")
                    if name:
                        fields[name.strip().lower()] = value.strip()
                await reader.readexactly(int(fields.get("content-length", 0)))
                self.requests += 1
                self.heads.append(fields)
                if COUNTS_SEGMENTS and writer.get_extra_info("sslcontext") is None:
                    self.segments.append(data_segments_in(writer) - segments)
                    segments += self.segments[-1]
                answer = self.answer(fields) if callable(self.answer) else self.answer
                writer.write(answer or b"HTTP/1.1 204 No Content\r\n\r\n")  # keep-alive: HTTP/1.1's default
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


@pytest.mark.skipif(not COUNTS_SEGMENTS, reason="counts TCP segments with Linux's TCP_INFO")
async def test_a_request_is_sent_in_one_write() -> None:
    """Head and body leave in one TCP segment (httpcore writes them apart: two segments, two wake-ups of the
    receiver), on a new connection and on a reused one, and a body past the bound still arrives whole."""
    receiver = await KeepAliveReceiver().start()
    http = SafeHttp(allow_private_targets=True, timeout_seconds=5)
    url = f"http://127.0.0.1:{receiver.port}/hook"
    try:
        for _ in range(3):
            body = json.dumps({"type": "slm.measurement.objective.breached", "data": {"n": "x" * 500}}).encode()
            assert (await http.request("POST", url, content=body)).status_code == 204
        assert receiver.segments == [1, 1, 1]
        large = b"[" + b"1," * (http_module.COALESCE_BYTES) + b"1]"  # held up to the bound, then sent on
        assert (await http.request("POST", url, content=large)).status_code == 204
        assert receiver.heads[-1]["content-length"] == str(len(large))
        assert (await http.request("POST", url, content=b"{}")).status_code == 204
        assert receiver.segments[-1] == 1 and receiver.connections == 1
    finally:
        await http.close()
        await receiver.stop()


async def test_a_cookie_a_receiver_sets_is_never_sent() -> None:
    """A host's pool serves every tenant's subscriptions to it: a cookie set in one answer (to one tenant's
    webhook) must not come back with the next request (perhaps another tenant's)."""
    answer = b"HTTP/1.1 204 No Content\r\nSet-Cookie: session=tenant-a-secret; Path=/\r\n\r\n"
    receiver = await KeepAliveReceiver(answer).start()
    http = SafeHttp(allow_private_targets=True, timeout_seconds=5)
    try:
        for path in ("/tenant-a", "/tenant-b"):
            answered = await http.request("POST", f"http://127.0.0.1:{receiver.port}{path}", content=b"{}")
            assert answered.status_code == 204
        assert [head.get("cookie") for head in receiver.heads] == [None, None]
    finally:
        await http.close()
        await receiver.stop()


async def test_an_answer_is_read_uncompressed() -> None:
    """The body is read raw (bounded): the request says it accepts only `identity`, so an API that compresses
    unless told not to (a request without Accept-Encoding accepts any coding, RFC 9110) answers readable JSON."""
    document = json.dumps({"key": "OPS-1", "fields": {"summary": "x" * 200}}).encode()

    def answer(head: dict[str, str]) -> bytes:
        compressed = head.get("accept-encoding") != "identity"
        body = gzip.compress(document) if compressed else document
        extra = b"Content-Encoding: gzip\r\n" if compressed else b""
        return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n%bContent-Length: %d\r\n\r\n%b" % (
            extra,
            len(body),
            body,
        )

    receiver = await KeepAliveReceiver(answer).start()
    http = SafeHttp(allow_private_targets=True, timeout_seconds=5)
    try:
        answered = await http.request("GET", f"http://127.0.0.1:{receiver.port}/rest/api/2/issue/OPS-1", max_body=4096)
        assert answered.json() == json.loads(document)
        assert receiver.heads[-1]["accept-encoding"] == "identity"
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
        pool = next(iter(http._clients.values()))._pool
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
    """One connection pool per (scheme, host, port), at most `MAX_CLIENTS`: the one used least lately goes and its
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
            if not second._pool.connections:
                break
            await asyncio.sleep(0.01)
        assert not second._pool.connections and first._pool.connections
        assert len(http._clients) == 2 and first in http._clients.values()
        assert (await http.request("POST", urls[0], content=b"{}")).status_code == 204
        assert [receiver.connections for receiver in receivers] == [1, 1, 1]  # `first` kept its connection
    finally:
        await http.close()
        for receiver in receivers:
            await receiver.stop()


async def test_a_receiver_that_never_answers_is_given_up_on_after_the_read_timeout() -> None:
    """The configured timeout reaches the connection pool (connect, write, read, pool): a receiver that takes
    the request and never answers ends in httpx's ReadTimeout, well inside a far longer outer deadline."""
    heads: list[bytes] = []
    answered = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        heads.append(await reader.readuntil(b"\r\n\r\n"))
        await answered.wait()
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    http = SafeHttp(allow_private_targets=True, timeout_seconds=0.3)
    try:

        async def send() -> Any:
            await http.request("POST", f"http://127.0.0.1:{port}/hook", content=b"{}")
            raise AssertionError("answered")

        with pytest.raises(httpx.ReadTimeout):
            async with asyncio.timeout(120):  # without the pool's own read timeout, this would end it instead
                await send()
        outcome = await attempt(120, send)
        assert outcome.error is not None and outcome.error.startswith("ReadTimeout"), outcome.error
        assert len(heads) == 2  # the requests were sent and read: only the answer was waited for
    finally:
        answered.set()
        await http.close()
        server.close()
        await server.wait_closed()
