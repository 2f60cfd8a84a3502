"""Refuse request bodies over a size limit (413) or with non-finite numbers (422), before the app reads them.

So is a JSON body holding bytes that are not UTF-8 (422 naming the field, `unencodable_field`), which every route's
parser refuses as a whole (FastAPI's a 400 naming nothing). The field is named as the route the request is for
names its fields (`slm_shared.errors.FieldNames`): each route of `field_names` its way, any other's dotted
(`targets.0.value`). Only a refusal looks the route up."""

from __future__ import annotations

from collections.abc import Sequence

from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from slm_shared.errors import FieldError, FieldNames, problem_response
from slm_shared.web.json_guard import body_refusal, unencodable_field


class BodySizeLimitMiddleware:
    """Buffers the body up to `max_bytes`; anything larger is answered with 413."""

    def __init__(self, app: ASGIApp, max_bytes: int, field_names: Sequence[tuple[BaseRoute, FieldNames]] = ()) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.field_names = field_names

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in {"GET", "HEAD", "OPTIONS"}:
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or {}).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
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
        content_type = dict(scope.get("headers") or {}).get(b"content-type", b"").decode("latin-1")
        if (refused := body_refusal(body, content_type)) is not None:
            field = refused.field_named(self._names(scope))
            error = FieldError(field=field, message=refused.message, type="finite_number")
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
        the index of its line among the lines that are not blank (`[1].service`)."""
        if "json" not in content_type.lower() or _utf8(body):
            return None
        names = self._names(scope)
        if "ndjson" not in content_type.lower():
            return unencodable_field(body, names=names)
        lines = [line for line in body.splitlines() if line.strip()]
        return next(
            (
                found
                for index, line in enumerate(lines)
                if not _utf8(line) and (found := unencodable_field(line, prefix=(index,), names=names))
            ),
            None,
        )

    def _names(self, scope: Scope) -> FieldNames:
        """How the route the request is for names its fields."""
        return next((names for route, names in self.field_names if route.matches(scope)[0] is Match.FULL), "dotted")

    async def _unprocessable(self, error: FieldError, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem_response(
            422,
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


def _utf8(body: bytes) -> bool:
    """Whether a body is UTF-8 (an ASCII one is, found at the cost of a scan)."""
    if body.isascii():
        return True
    try:
        body.decode()
    except UnicodeDecodeError:
        return False
    return True
