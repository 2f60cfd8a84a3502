"""Outgoing HTTP every channel shares: the host resolved once and checked, that address used, no redirects."""

from __future__ import annotations

import asyncio
import base64
import json
import select
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpcore
import httpx
from cachetools import LRUCache

from slm_notifier.channels.base import AttemptOutcome
from slm_notifier.targets import TargetRefused, resolve_target
from slm_shared.db import utcnow

USER_AGENT = "slm-notifier/0.1"
ERROR_BODY_CHARS = 300
MAX_BODY_BYTES = 256 * 1024
MAX_CLIENTS = 256
MAX_URLS = 1024
COALESCE_BYTES = 64 * 1024  # a request's writes held up to this much, then sent (`_KnownSocketStream`)


@dataclass(frozen=True)
class HttpAnswer:
    """A response read up to a bound: status, headers and the body (for JSON APIs)."""

    status_code: int
    headers: httpx.Headers
    body: bytes = b""
    extra: dict[str, Any] = field(default_factory=dict)

    def json(self) -> Any:
        """The body as JSON, or None when it is not JSON."""
        try:
            return json.loads(self.body or b"null")
        except ValueError:
            return None

    @property
    def snippet(self) -> str:
        return self.body[:ERROR_BODY_CHARS].decode("utf-8", errors="replace")


def _socket_readable(sock: socket.socket | None) -> bool:
    """Whether a read would return at once (data, or the b"" of a closed peer); a socket gone counts as readable."""
    fd = -1 if sock is None else sock.fileno()
    if fd < 0:
        return True
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(0))


class _KnownSocketStream(httpcore.AsyncNetworkStream):
    """An httpcore stream that remembers its socket, and sends a request in one write.

    Before each request the pool asks every idle connection whether the server closed it
    (`is_readable`); anyio answers by building a dict of every socket attribute, getpeername() included,
    each time, which with 16 connections in the pool was a fifth of a webhook's HTTP cost. The socket
    never changes under a stream (TLS wraps the stream, not the socket), so it is looked up once.

    httpcore writes a request's head, then each chunk of its body, then its end (b"" for a sized body),
    each on its own: two sends, two TCP segments (the socket has TCP_NODELAY) and two wake-ups of the
    receiver for every webhook, the send being the largest single item of a webhook's CPU time. The
    writes are held and sent together at the request's end, at the first read (the answer is only read
    once the request is written), or once `COALESCE_BYTES` are held."""

    def __init__(self, stream: httpcore.AsyncNetworkStream) -> None:
        self._stream = stream
        self._socket: socket.socket | None = stream.get_extra_info("socket")
        self._unsent: list[bytes] = []
        self._unsent_bytes = 0

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:  # noqa: ASYNC109 - httpcore's API
        if self._unsent:
            await self._flush(timeout)
        return await self._stream.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:  # noqa: ASYNC109 - as above
        if buffer:
            self._unsent.append(buffer)
            self._unsent_bytes += len(buffer)
            if self._unsent_bytes < COALESCE_BYTES:
                return
        await self._flush(timeout)

    async def _flush(self, timeout: float | None) -> None:  # noqa: ASYNC109 - as above
        if not self._unsent:
            return
        data = self._unsent[0] if len(self._unsent) == 1 else b"".join(self._unsent)
        self._unsent, self._unsent_bytes = [], 0
        await self._stream.write(data, timeout)

    async def aclose(self) -> None:
        await self._stream.aclose()

    async def start_tls(
        self,
        ssl_context: Any,
        server_hostname: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - as above
    ) -> httpcore.AsyncNetworkStream:
        return _KnownSocketStream(await self._stream.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            return _socket_readable(self._socket)
        if info == "socket":
            return self._socket
        return self._stream.get_extra_info(info)


class _KnownSocketBackend(httpcore.AsyncNetworkBackend):
    """httpcore's own (anyio) backend, its streams wrapped in `_KnownSocketStream`."""

    def __init__(self) -> None:
        self._backend = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - as above
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.AsyncNetworkStream:
        stream = await self._backend.connect_tcp(host, port, timeout, local_address, socket_options)
        return _KnownSocketStream(stream)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - as above
        socket_options: Any = None,
    ) -> httpcore.AsyncNetworkStream:
        return _KnownSocketStream(await self._backend.connect_unix_socket(path, timeout, socket_options))

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)


POOL_CONNECTIONS = 32  # per target host: a busy target keeps its connections


def pooled_transport(ssl_context: Any) -> httpx.AsyncHTTPTransport:
    """httpx's transport with the connection pool on `_KnownSocketBackend` (httpx takes no backend argument).

    Same pool as httpx builds (HTTP/1.1, keep-alive, the given TLS context), only the backend differs."""
    limits = httpx.Limits(max_connections=POOL_CONNECTIONS, max_keepalive_connections=POOL_CONNECTIONS)
    transport = httpx.AsyncHTTPTransport(verify=ssl_context, trust_env=False, limits=limits)
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=ssl_context,
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        http1=True,
        http2=False,
        network_backend=_KnownSocketBackend(),
    )
    return transport


class _PooledClients(LRUCache[tuple[str, str, int], httpx.AsyncHTTPTransport]):
    """The connection pool of each (scheme, host, port) used last, at most `maxsize`: the least recently used goes
    first and is closed. Eviction happens inside a synchronous lookup, so the close runs as a task of the loop."""

    def popitem(self) -> tuple[tuple[str, str, int], httpx.AsyncHTTPTransport]:
        key, transport = super().popitem()
        asyncio.get_running_loop().create_task(transport.aclose())
        return key, transport


class SafeHttp:
    """Sends requests to user-given URLs: one connection pool per host, connecting to the address checked.

    Requests go to the pool's transport straight, not through an `httpx.AsyncClient`: what a client adds
    on top (a cookie jar, auth flows, redirects, default headers, merging with its settings) is either
    unwanted here or done by `request` itself, and cost a sixth of a webhook's HTTP time. Above all the
    cookie jar: the pool of a host serves every tenant's subscriptions to it, so a cookie one receiver
    set was sent with every later request to that host, whichever tenant's it was. Nothing is kept
    between requests but the connections."""

    def __init__(self, *, allow_private_targets: bool, timeout_seconds: float) -> None:
        self.allow_private_targets = allow_private_targets
        self.timeout_seconds = timeout_seconds
        self._ssl = httpx.create_ssl_context()
        self._clients = _PooledClients(MAX_CLIENTS)
        self._timeout = httpx.Timeout(timeout_seconds).as_dict()
        self._urls: dict[str, httpx.URL] = {}
        self._addressed_urls: dict[tuple[str, str], httpx.URL] = {}

    def _parsed(self, url: str) -> httpx.URL:
        """The parsed target URL (parsing is a good part of a small request's cost), kept for repeat sends."""
        parsed = self._urls.get(url)
        if parsed is None:
            parsed = self._urls[url] = httpx.URL(url)
            while len(self._urls) > MAX_URLS:
                self._urls.pop(next(iter(self._urls)))
        return parsed

    def _addressed(self, url: str, parsed: httpx.URL, address: str) -> httpx.URL:
        """The URL with its host replaced by the address it was checked to resolve to."""
        key = (url, address)
        found = self._addressed_urls.get(key)
        if found is None:
            found = self._addressed_urls[key] = parsed.copy_with(host=address)
            while len(self._addressed_urls) > MAX_URLS:
                self._addressed_urls.pop(next(iter(self._addressed_urls)))
        return found

    def _client(self, scheme: str, host: str, port: int) -> httpx.AsyncHTTPTransport:
        key = (scheme, host, port)
        transport = self._clients.get(key)
        if transport is None:
            transport = self._clients[key] = pooled_transport(self._ssl)
        return transport

    async def request(
        self,
        method: str,
        url: str,
        *,
        content: bytes | None = None,
        json_body: Any = None,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        max_body: int = ERROR_BODY_CHARS,
    ) -> HttpAnswer:
        """One request to `url`; raises TargetRefused, LookupError, OSError or httpx errors."""
        parsed = self._parsed(url)
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise TargetRefused("the target URL is not an absolute http(s) URL")  # the URL may be a credential
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        # resolved and checked on every request: a host may point somewhere else by now
        resolved = await resolve_target(parsed.host, port, allow_private=self.allow_private_targets)
        if json_body is not None:
            content = json.dumps(json_body, separators=(",", ":"), default=str).encode()
        # answers uncompressed, as the body is read raw (and bounded); said outright, since a request without
        # Accept-Encoding accepts any coding (RFC 9110, 12.5.3)
        all_headers = {
            "Host": parsed.netloc.decode("ascii"),
            "User-Agent": USER_AGENT,
            "Accept": "*/*",
            "Accept-Encoding": "identity",
        }
        if content is not None:
            all_headers["Content-Type"] = "application/json"
        all_headers.update(headers or {})
        if auth is not None:
            all_headers["Authorization"] = basic_auth(*auth)
        transport = self._client(parsed.scheme, parsed.host, port)
        extensions: dict[str, Any] = {"timeout": self._timeout}
        if parsed.scheme == "https":
            extensions["sni_hostname"] = parsed.host
        request = httpx.Request(
            method,
            self._addressed(url, parsed, resolved.address),
            content=content,
            headers=all_headers,
            params=params,
            extensions=extensions,
        )
        response = await transport.handle_async_request(request)
        response.request = request
        try:
            body = await _read_bounded(response, max_body)
        finally:
            await response.aclose()
        return HttpAnswer(response.status_code, response.headers, body)

    async def close(self) -> None:
        """Close every connection pool."""
        pools, self._clients = list(self._clients.values()), _PooledClients(MAX_CLIENTS)
        await asyncio.gather(*(pool.aclose() for pool in pools), return_exceptions=True)


def basic_auth(username: str, password: str) -> str:
    """An HTTP Basic `Authorization` value."""
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode("ascii")


async def _read_bounded(response: httpx.Response, limit: int) -> bytes:
    collected = b""
    async for chunk in response.aiter_raw():
        collected += chunk
        if len(collected) >= limit:
            break
    return collected[:limit]


async def attempt(timeout_seconds: float, send: Callable[[], Awaitable[AttemptOutcome]]) -> AttemptOutcome:
    """Run one attempt under a deadline; every failure becomes an outcome with its duration."""
    started = time.monotonic()
    try:
        async with asyncio.timeout(timeout_seconds):
            outcome = await send()
    except TargetRefused as exc:
        outcome = AttemptOutcome(succeeded=False, error=str(exc), permanent=True)
    except TimeoutError:
        outcome = AttemptOutcome(succeeded=False, error=f"no response within {timeout_seconds:g}s")
    except (httpx.HTTPError, LookupError, OSError) as exc:
        outcome = AttemptOutcome(succeeded=False, error=f"{type(exc).__name__}: {exc}".strip())
    duration_ms = int((time.monotonic() - started) * 1000)
    return AttemptOutcome(**{**outcome.__dict__, "duration_ms": duration_ms})


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date); None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max((when - now).total_seconds(), 0.0)


def outcome_for(answer: HttpAnswer, *, what: str = "receiver") -> AttemptOutcome:
    """Only 2xx succeeds; 410 disables the subscription; 3xx is not followed; Retry-After is kept."""
    code = answer.status_code
    if 200 <= code < 300:
        return AttemptOutcome(succeeded=True, status_code=code)
    if code == 410:
        return AttemptOutcome(
            succeeded=False,
            status_code=code,
            error=f"{what} answered 410 Gone; the subscription was disabled",
            permanent=True,
            disable_subscription=True,
        )
    if 300 <= code < 400:
        error = f"HTTP {code}: redirect to {answer.headers.get('location', '?')} not followed"
    else:
        error = f"HTTP {code}" + (f": {answer.snippet}" if answer.snippet else "")
    retry_after = parse_retry_after(answer.headers.get("retry-after"), utcnow())
    return AttemptOutcome(succeeded=False, status_code=code, error=error, retry_after_seconds=retry_after)
