"""The HTTP/1.1 protocol every service serves with: httptools (llhttp, in C), with a bound on a request's head and
the Host rule of RFC 9112.

uvicorn's httptools protocol keeps every byte of a request line and headers it is sent, without limit (its h11
protocol refuses a head that arrives in pieces past 16 KiB), and answers a request with no Host, or two, as any
other (h11 answers 400, as RFC 9112 section 3.2 requires). Here a head past `MAX_REQUEST_HEAD_BYTES` on the wire,
and an HTTP/1.1 request with no Host or any request with more than one, is answered 400 and its connection
closed, as uvicorn answers any request it cannot parse.
"""

from __future__ import annotations

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

MAX_REQUEST_HEAD_BYTES = 64 * 1024  # request line and headers: room for a large identity provider's token

# The fewest bytes the wire holds besides what the parser's callbacks hand over: " " and " HTTP/1.1\r\n" around the
# target, ":" and "\r\n" around a header's value, "\r\n" after the last header.
_REQUEST_LINE_FRAMING = 12
_HEADER_FRAMING = 3
_HEAD_END = 2


class RequestHeadTooLarge(ValueError):
    """A request's line and headers passed `MAX_REQUEST_HEAD_BYTES`."""


class BadHost(ValueError):
    """An HTTP/1.1 request without a Host header, or a request with more than one."""


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, refusing a request whose head passes `MAX_REQUEST_HEAD_BYTES` or whose Host
    breaks RFC 9112.

    The head is measured twice, because httptools hands a header to `on_header` only once the next one starts or
    the head ends: a header that never ends is never handed over. So `data_received` counts the bytes read while
    a head is unfinished, at most (the bound of what the parser holds), and the callbacks count what they hand
    over with the fewest bytes of framing it takes on the wire, at least (the bound of what uvicorn keeps, and of
    a head that arrives whole in one read), each against the same bound. Of the requests before it in the same
    read, only the bytes the callbacks cannot see (optional whitespace, chunk framing) count against a head, so
    heads under the bound, kept alive or pipelined, are answered.
    """

    in_head = False  # between on_message_begin and on_headers_complete
    head_bytes = 0  # the unfinished head's bytes read so far, at most
    parsed_bytes = 0  # the current head's bytes on the wire, at least, from what the callbacks handed over
    read_bytes = 0  # in the current read, at least: the bytes of the requests before, then of this one's body
    began_at: int | None = None  # read_bytes when the current request began in the current read, else None

    def data_received(self, data: bytes) -> None:
        self.read_bytes = 0
        self.began_at = None
        super().data_received(data)
        if not self.in_head or self.transport.is_closing():
            return
        # The request began in this read: the bytes before it are at least `began_at`, so the rest of the read
        # (at most) is its own. Else the whole read is its head's.
        self.head_bytes += len(data) - self.began_at if self.began_at is not None else len(data)
        if self.head_bytes > MAX_REQUEST_HEAD_BYTES:
            msg = f"The request's line and headers pass {MAX_REQUEST_HEAD_BYTES} bytes."
            self.logger.warning(msg)
            self.send_400_response(msg)

    def on_message_begin(self) -> None:
        self.in_head = True
        self.head_bytes = 0
        self.parsed_bytes = _REQUEST_LINE_FRAMING + _HEAD_END
        self.began_at = self.read_bytes
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + _HEADER_FRAMING)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self.in_head = False
        if self.began_at is not None:  # its whole head is in this read; else how much of it is, is not known
            self.read_bytes = self.began_at + self.parsed_bytes + len(self.parser.get_method())
        hosts = sum(1 for name, _ in self.headers if name == b"host")
        if hosts > 1 or (hosts == 0 and self.parser.get_http_version() == "1.1"):
            # Raised inside the parser's callback, it reaches uvicorn as a parser error: 400, connection closed.
            raise BadHost("an HTTP/1.1 request needs one Host header, any request at most one")
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        self.read_bytes += len(body)
        super().on_body(body)

    def _count(self, size: int) -> None:
        self.parsed_bytes += size
        if self.parsed_bytes > MAX_REQUEST_HEAD_BYTES:
            raise RequestHeadTooLarge(f"the request's line and headers pass {MAX_REQUEST_HEAD_BYTES} bytes")
