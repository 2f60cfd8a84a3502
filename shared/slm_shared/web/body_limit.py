"""Refuse request bodies over a size limit (413) or with non-finite numbers (422), before the app reads them."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from slm_shared.errors import FieldError, problem_response
from slm_shared.web.json_guard import body_refusal


class BodySizeLimitMiddleware:
    """Buffers the body up to `max_bytes`; anything larger is answered with 413."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

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
            response = problem_response(
                422,
                f"The request body is refused: {refused}",
                errors=[FieldError(field=refused.field, message=refused.message, type="finite_number")],
                instance=scope.get("path"),
            )
            await response(scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem_response(
            413,
            f"The request body exceeds the limit of {self.max_bytes} bytes",
            instance=scope.get("path"),
        )
        await response(scope, receive, send)
