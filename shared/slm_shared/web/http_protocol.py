"""The HTTP/1.1 protocol every service serves with: httptools (llhttp, in C), with a bound on a request's head.

uvicorn's httptools protocol keeps every byte of a request line and headers it is sent, without limit (its h11
protocol refuses a head that arrives in pieces past 16 KiB). Here a head past `MAX_REQUEST_HEAD_BYTES` is
answered 400 and its connection closed, as uvicorn answers any request it cannot parse.
"""

from __future__ import annotations

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

MAX_REQUEST_HEAD_BYTES = 64 * 1024  # request line and headers: room for a large identity provider's token


class RequestHeadTooLarge(ValueError):
    """A request's line and headers passed `MAX_REQUEST_HEAD_BYTES`."""


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, refusing a request whose head passes `MAX_REQUEST_HEAD_BYTES`."""

    head_bytes = 0

    def on_message_begin(self) -> None:
        self.head_bytes = 0
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value))
        super().on_header(name, value)

    def _count(self, size: int) -> None:
        # Raised inside the parser's callback, it reaches uvicorn as a parser error: 400, connection closed.
        self.head_bytes += size
        if self.head_bytes > MAX_REQUEST_HEAD_BYTES:
            raise RequestHeadTooLarge(f"the request's line and headers pass {MAX_REQUEST_HEAD_BYTES} bytes")
