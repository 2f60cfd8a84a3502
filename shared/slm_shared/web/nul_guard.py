"""Refuse U+0000 (NUL) in a request's path or query parameters, before any route reads them.

No stored text can hold a NUL (PostgreSQL refuses it in `text`, a 500 where a route looks the value up; SQLite's
JSON functions cut a string at it), so no resource is named by one. The rule, the same for every service and
before authentication (it depends on nothing stored):

- a NUL anywhere in the path (sent as `%00`): 404, no such resource;
- a NUL in a query parameter's name or value: 422 naming the parameter.

Both answer problem+json. A request without one costs a substring search of its path and query string.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Receive, Scope, Send

from slm_shared.errors import FieldError, problem_response
from slm_shared.web.bounds import NUL_REFUSED


class NulRefusedMiddleware:
    """A path holding NUL answers 404, a query parameter holding NUL 422 naming it (problem+json both)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            # `path` is percent-decoded (a `%00` is a NUL there); the query string is not, and may hold either.
            if "\x00" in scope["path"]:
                response = problem_response(404, f"No such resource: the path {NUL_REFUSED}")
                await response(scope, receive, send)
                return
            query: bytes = scope.get("query_string", b"")
            if (b"%00" in query or b"\x00" in query) and (refused := _nul_parameters(query)):
                response = problem_response(
                    422,
                    f"The query parameter {refused[0]!r} {NUL_REFUSED}",
                    errors=[FieldError(field=name, message=NUL_REFUSED, type="invalid") for name in refused],
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _nul_parameters(query: bytes) -> list[str]:
    """The names of the query parameters holding NUL, in name or value, each once, as the app would read them."""
    found: list[str] = []
    for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True, encoding="utf-8"):
        if ("\x00" in name or "\x00" in value) and name not in found:
            found.append(name)
    return found
