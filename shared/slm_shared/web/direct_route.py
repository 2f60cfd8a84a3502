"""A route whose plain request (no query string) is answered without FastAPI's dependency resolution.

On the hot objective read, resolving the route's parameters (the bearer security dependency, the optional query,
the path parameter, the request) cost 9-15% of the process's CPU per request, more than the query on PostgreSQL.
A request with no query string has nothing there to validate: its path parameter is a string (any string
matches), its optional query parameters are absent, so each has its default. Such a request is answered by the
route's `answer`, which calls the same dependency (the very object the route declares, e.g. `deps.READER`: token
verified through the verifier's cache, roles checked) and the same endpoint code the route runs, with those
arguments resolved by hand.

Everything else is the route's own: it is matched, documented in OpenAPI (parameters, responses, security) and
wrapped (the body limit, the exception handlers that write problem+json) exactly as any route, since only its
request handler changes, and that handler falls back to FastAPI's whole resolution whenever anything could make
it differ:
- the request has a query string (a parameter to validate, perhaps refused with 422, or one to ignore);
- the app overrides any dependency (`app.dependency_overrides`, as tests do);
- FastAPI's own telemetry is on for the request (it traces dependency resolution and the endpoint as spans);
- the route carries dependencies of its own or of the routers and app that include it (these run only there).
The middleware (metrics, trace context, body limit, NUL refusal) sits in front of every route, so it sees these
requests as any other.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, ClassVar

import fastapi.routing
from fastapi import Request, Response
from fastapi.routing import APIRoute
from fastapi.telemetry import get_telemetry_data

Answer = Callable[[Request], Awaitable[Response]]


class DirectRoute(APIRoute):
    """An `APIRoute` whose plain requests `answer` takes (see the module); made with `direct_route`."""

    answer: ClassVar[Answer]

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        ordinary = super().get_route_handler()
        # FastAPI builds a route's handler once per router including it, with the dependencies and the overrides of
        # that inclusion (added to the route's own) in a context it keeps for the build; a route seen with none of
        # these, or a FastAPI that keeps them elsewhere, is answered by `ordinary` alone.
        included = getattr(fastapi.routing, "_effective_route_context_var", None)
        context = included.get() if included is not None else None
        if context is None or context.original_route is not self or context.dependencies or self.dependencies:
            return ordinary
        overrides = context.dependency_overrides_provider
        answer: Answer = type(self).answer

        async def handler(request: Request) -> Response:
            if (
                request.scope.get("query_string")
                or (overrides is not None and getattr(overrides, "dependency_overrides", None))
                or get_telemetry_data() is not None
            ):
                return await ordinary(request)
            return await answer(request)

        return handler


def direct_route(answer: Answer) -> type[APIRoute]:
    """The route class for `APIRouter.add_api_route(..., route_class_override=...)` whose plain requests `answer`
    takes: it must do what the endpoint does when every query parameter is absent, calling the route's own
    dependencies and endpoint code (never a copy of them)."""
    return type("DirectRoute", (DirectRoute,), {"answer": staticmethod(answer)})
