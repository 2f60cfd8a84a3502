"""Refuse request bodies over a size limit (413) or with non-finite numbers (422; a body of up to 256 KiB,
`json_guard.REPARSE_MAX_BYTES`, a larger one left to the route's decoding), before the app reads them. A body this
check parses that is nested too deeply for the parser is a 422 naming `body` (an NDJSON line: `[3]`), as the app
answers one it cannot parse for that (`slm_shared.errors.nested_too_deeply`).

A JSON body that is not UTF-8 by its encoding (UTF-16 or UTF-32: it holds a byte 0, or starts with such a byte order
mark) is a 415 naming `body` (RFC 8259 §8.1: JSON exchanged between systems is UTF-8), as the app's parser would
read it (Python's `json` detects UTF-16 and UTF-32) past every check here. The content type and the declared length
are read as the app reads them: the first `Content-Type` and `Content-Length` headers (the length only to refuse a
body declared over the limit before reading it; the bytes read are counted whatever it says).

So is a JSON body holding bytes that are not UTF-8 (422 naming the field, `unencodable_field`), which every route's
parser refuses as a whole (FastAPI's a 400 naming nothing), unless the field cannot be named (over 256 KiB, not JSON
even so, nested too deep: the route's own answer stands). Both come before authentication and routing. The field is
named as the route the request is for names its fields (`slm_shared.errors.FieldNames`): the first of `routes`
matching the request, as its `openapi_extra` declares (`field_names_of`), dotted (`targets.0.value`) for any other
and for a path no route has. Only a refusal looks the route up, in `routes` as they are then (the app's: FastAPI's
`iter_route_contexts`, as its OpenAPI document does, walks the routers included in it and in them, each route with
its prefixes; a mounted app's routes are not looked into, and the platform mounts none that takes a body)."""

from __future__ import annotations

import codecs
from collections.abc import Sequence

from fastapi.routing import APIRoute, iter_route_contexts
from starlette.datastructures import Headers
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from slm_shared.errors import FieldError, FieldNames, field_names_of, problem_response
from slm_shared.web.json_guard import body_refusal, not_utf8_json, unencodable_field


class BodySizeLimitMiddleware:
    """Buffers the body up to `max_bytes`; anything larger is answered with 413."""

    def __init__(self, app: ASGIApp, max_bytes: int, routes: Sequence[BaseRoute] = ()) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in {"GET", "HEAD", "OPTIONS"}:
            await self.app(scope, receive, send)
            return
        # Every header as Starlette's `request.headers` (and so FastAPI's body parsing) reads it: the first one.
        headers = Headers(scope=scope)
        declared = headers.get("content-length")
        if declared is not None and declared.isascii() and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        content_type = headers.get("content-type", "")
        if "json" in content_type.lower() and not_utf8_json(body):
            error = FieldError(field="body", message="JSON must be encoded as UTF-8 (RFC 8259)", type="encoding")
            await self._unprocessable(error, scope, receive, send, status=415)
            return
        if (refused := body_refusal(body, content_type)) is not None:
            field = refused.field_named(self._names(scope))
            error = FieldError(field=field, message=refused.message, type=refused.type)
            await self._unprocessable(error, scope, receive, send)
            return
        if (unencodable := self._not_utf8(body, content_type, scope)) is not None:
            await self._unprocessable(unencodable, scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def _not_utf8(self, body: bytes, content_type: str, scope: Scope) -> FieldError | None:
        """The field of a JSON body holding bytes that are not UTF-8, or None (none, or not found); in NDJSON after
        the index of its line among the lines that are not blank (`[1].service`), in the first line holding such
        bytes only, as the lines' decoder stops there: one line is read a second time at most."""
        if "json" not in content_type.lower() or _utf8(body):
            return None
        names = self._names(scope)
        if "ndjson" not in content_type.lower():
            return unencodable_field(body, names=names)
        lines = (line for line in body.splitlines() if line.strip())
        for index, line in enumerate(lines):
            if not _utf8(line):
                return unencodable_field(line, prefix=(index,), names=names)
        return None

    def _names(self, scope: Scope) -> FieldNames:
        """How the route the request is for names its fields."""
        for context in iter_route_contexts(self.routes):
            if context.matches(scope)[0] is Match.FULL:
                route = context.original_route
                return field_names_of(route.openapi_extra) if isinstance(route, APIRoute) else "dotted"
        return "dotted"

    async def _unprocessable(
        self, error: FieldError, scope: Scope, receive: Receive, send: Send, *, status: int = 422
    ) -> None:
        response = problem_response(
            status,
            f"The request body is refused: {error.field}: {error.message}",
            errors=[error],
            instance=scope.get("path"),
        )
        await response(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem_response(
            413,
            f"The request body exceeds the limit of {self.max_bytes} bytes",
            instance=scope.get("path"),
        )
        await response(scope, receive, send)


# `_utf8` decodes a body this many bytes at a time, keeping no text: its memory is bounded whatever the body's size.
_UTF8_CHUNK_BYTES = 64 << 10


def _utf8(body: bytes) -> bool:
    """Whether a body is UTF-8 (an ASCII one is, found at the cost of a scan)."""
    if body.isascii():
        return True
    decoder = codecs.getincrementaldecoder("utf-8")()
    view = memoryview(body)
    try:
        for start in range(0, len(body), _UTF8_CHUNK_BYTES):
            decoder.decode(view[start : start + _UTF8_CHUNK_BYTES])
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True
