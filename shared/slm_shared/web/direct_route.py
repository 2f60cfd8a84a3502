"""A route whose plain request (no query string) is answered without FastAPI's dependency resolution.

On the hot objective read, resolving the route's parameters (the bearer security dependency, the optional query,
the path parameter, the request) cost 9-15% of the process's CPU per request, more than the query on PostgreSQL.
A request with no query string has nothing there to validate: its path parameter is a string (any string
matches), its optional query parameters are absent, so each has its default. Such a request is answered by the
route's `answer`, which calls the same dependencies (the very objects the route declares, e.g. `deps.READER_ROLES`:
token verified through the verifier's cache, roles checked) and the same endpoint code the route runs, with those
arguments resolved by hand.

Everything else is the route's own: it is matched, documented in OpenAPI (parameters, responses, security) and
wrapped (the body limit, the exception handlers that write problem+json) exactly as any route, since only its
request handler changes, and that handler falls back to FastAPI's whole resolution whenever anything could make
it differ:
- the request has a query string (a parameter to validate, perhaps refused with 422, or one to ignore);
- the app overrides any dependency (`app.dependency_overrides`, as tests do);
- FastAPI's own telemetry is on for the request (it traces dependency resolution and the endpoint as spans).
And for every request, once the handler is built, where what FastAPI would resolve is not exactly what the answer
does (`unanswerable`): the dependencies FastAPI would run (the endpoint's parameters, the route's own and those
of the routers and the app that include it, all in the dependant FastAPI builds the handler with) are not exactly
those the answer declares, one of them has cleanup after a `yield` (which a direct call would not run), FastAPI
would call something other than the endpoint (an integration wrapping it), or the endpoint reads a header, a
cookie, a body, a required query parameter, a path parameter that is not a plain string, the response, background
tasks or security scopes. That is checked once per route and inclusion, when FastAPI builds the handler, and logged
as a warning (as is a FastAPI that does not say which inclusion it builds the handler for): the route then still
answers as FastAPI does, only without the saving.
The middleware (metrics, trace context, body limit, NUL refusal) sits in front of every route, so it sees these
requests as any other.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, ClassVar

import fastapi.routing
from fastapi import Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.telemetry import get_telemetry_data

Answer = Callable[[Request], Awaitable[Response]]

logger = logging.getLogger(__name__)


def _reads_more_than_path_query_and_request(dependant: Dependant) -> bool:
    """Whether `dependant` takes, at its own level, a header, a cookie, a body, the connection, the response,
    background tasks or security scopes."""
    special = (
        dependant.websocket_param_name,
        dependant.http_connection_param_name,
        dependant.response_param_name,
        dependant.background_tasks_param_name,
        dependant.security_scopes_param_name,
    )
    return bool(dependant.header_params or dependant.cookie_params or dependant.body_params) or any(
        name is not None for name in special
    )


def _is_generator(call: Callable[..., Any] | None) -> bool:
    """Whether FastAPI runs `call` as a dependency with cleanup (a generator or async generator function, or an
    object whose `__call__` is one): the code after its `yield`, which a direct call would never run."""
    if call is None:
        return False
    candidates: list[Any] = [call]
    if not inspect.isclass(call) and not inspect.isroutine(call):
        candidates.append(getattr(call, "__call__", None))  # noqa: B004 - an instance's own call method
    for candidate in candidates:
        while isinstance(candidate, functools.partial):
            candidate = candidate.func
        if candidate is not None and any(
            inspect.isgeneratorfunction(f) or inspect.isasyncgenfunction(f)
            for f in (candidate, inspect.unwrap(candidate))
        ):
            return True
    return False


def unanswerable(
    dependant: Dependant, dependencies: Sequence[Callable[..., Any]], *, endpoint: Callable[..., Any]
) -> str | None:
    """Why an answer calling `dependencies` (each with the request alone, in this order) and `endpoint`'s code (with
    the path's strings, the request and every query parameter's default) could differ from FastAPI's resolution of
    `dependant`; None where it cannot."""
    if dependant.call is not endpoint:  # e.g. an integration wrapping the endpoint: the answer would skip it
        return f"it calls {dependant.call!r}, not the endpoint {endpoint!r}"
    calls = [sub.call for sub in dependant.dependencies]
    if len(calls) != len(dependencies) or any(call is not own for call, own in zip(calls, dependencies, strict=True)):
        return f"it resolves the dependencies {calls!r}, the direct answer {list(dependencies)!r}"
    for sub in dependant.dependencies:
        if _is_generator(sub.call):
            return f"its dependency {sub.call!r} has cleanup after its yield, which the direct answer would not run"
        if sub.dependencies or sub.path_params or sub.query_params or _reads_more_than_path_query_and_request(sub):
            return f"its dependency {sub.call!r} takes more than the request"
    if any(param.field_info.annotation is not str or param.field_info.metadata for param in dependant.path_params):
        return "a path parameter is not a plain string"
    if any(param.field_info.is_required() for param in dependant.query_params):
        return "a query parameter is required"
    if _reads_more_than_path_query_and_request(dependant):
        return "it reads a header, a cookie, a body, the connection, the response, background tasks or scopes"
    return None


class DirectRoute(APIRoute):
    """An `APIRoute` whose plain requests `answer` takes (see the module); made with `direct_route`."""

    answer: ClassVar[Answer]
    answer_dependencies: ClassVar[tuple[Callable[..., Any], ...]]

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        ordinary = super().get_route_handler()
        # The route FastAPI has just built `ordinary` for, as `APIRoute.get_route_handler` finds it: this route, or
        # its inclusion by a router (its dependant then also holds the dependencies of that inclusion). A FastAPI
        # that no longer says which is answered by `ordinary` alone.
        included = getattr(fastapi.routing, "_effective_route_context_var", None)
        if included is None:
            logger.warning(
                "%s %s: every request resolved by FastAPI, as FastAPI does not say which route it builds",
                self.methods,
                self.path,
            )
            return ordinary
        context = included.get()
        effective: Any = context if context is not None and context.original_route is self else self
        dependant = getattr(effective, "dependant", None)
        why = (
            unanswerable(dependant, type(self).answer_dependencies, endpoint=self.endpoint)
            if isinstance(dependant, Dependant)
            else "FastAPI built it with no dependant"
        )
        if why is not None:
            logger.warning("%s %s: every request resolved by FastAPI, as %s", self.methods, effective.path, why)
            return ordinary
        overrides = effective.dependency_overrides_provider
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


def direct_route(answer: Answer, *, dependencies: Sequence[Callable[..., Any]]) -> type[APIRoute]:
    """The route class for `APIRouter.add_api_route(..., route_class_override=...)` whose plain requests `answer`
    takes: it must do what the endpoint does when every query parameter is absent, calling the route's own
    `dependencies` (each with the request alone, in the order the route declares them) and endpoint code, never a
    copy of them. Where the route, as built or as included, resolves anything else, FastAPI answers instead."""
    return type(
        "DirectRoute",
        (DirectRoute,),
        {"answer": staticmethod(answer), "answer_dependencies": tuple(dependencies)},
    )
