"""`slm_shared.web.direct_route.unanswerable`: what a route resolves beyond what its direct answer passes (the
declared dependencies with the request alone, the path's strings, the request, every query parameter's default)
keeps the route with FastAPI's resolution. Each endpoint here differs from the answerable one in one way."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

from fastapi import BackgroundTasks, Body, Cookie, Depends, Header, Path, Query, Request, Response
from fastapi.dependencies.utils import get_dependant
from fastapi.security import SecurityScopes

from slm_shared.web.direct_route import unanswerable


async def own(request: Request) -> str:
    return request.url.path


async def other(request: Request) -> None:
    return None


async def needs_a_header(request: Request, x_key: Annotated[str, Header()]) -> None:
    return None


async def needs_own(value: Annotated[str, Depends(own)]) -> None:
    return None


async def answerable(
    item: str, principal: Annotated[str, Depends(own)], request: Request, at: str | None = None
) -> None:
    """What the answer passes: the path's string, the declared dependency, the request; `at` by its default."""


async def another_dependency(item: str, principal: Annotated[str, Depends(other)]) -> None: ...
async def one_more(
    item: str, principal: Annotated[str, Depends(own)], _: Annotated[None, Depends(other)] = None
) -> None: ...
async def none(item: str) -> None: ...
async def deeper(item: str, principal: Annotated[None, Depends(needs_own)]) -> None: ...
async def a_header_below(item: str, principal: Annotated[None, Depends(needs_a_header)]) -> None: ...
async def an_int(item: int, principal: Annotated[str, Depends(own)]) -> None: ...
async def a_bounded_string(
    item: Annotated[str, Path(max_length=3)], principal: Annotated[str, Depends(own)]
) -> None: ...
async def a_required_query(item: str, principal: Annotated[str, Depends(own)], at: Annotated[str, Query()]) -> None: ...
async def a_header(
    item: str, principal: Annotated[str, Depends(own)], x_key: Annotated[str | None, Header()] = None
) -> None: ...
async def a_cookie(
    item: str, principal: Annotated[str, Depends(own)], c: Annotated[str | None, Cookie()] = None
) -> None: ...
async def a_body(
    item: str, principal: Annotated[str, Depends(own)], b: Annotated[dict[str, Any] | None, Body()] = None
) -> None: ...
async def the_response(item: str, principal: Annotated[str, Depends(own)], response: Response) -> None: ...
async def tasks(item: str, principal: Annotated[str, Depends(own)], background: BackgroundTasks) -> None: ...
async def scopes(item: str, principal: Annotated[str, Depends(own)], wanted: SecurityScopes) -> None: ...


async def own_with_cleanup(request: Request) -> AsyncIterator[str]:
    yield request.url.path


def own_with_sync_cleanup(request: Request) -> Any:
    yield request.url.path


async def with_cleanup(item: str, principal: Annotated[str, Depends(own_with_cleanup)], request: Request) -> None: ...
async def with_sync_cleanup(
    item: str, principal: Annotated[str, Depends(own_with_sync_cleanup)], request: Request
) -> None: ...


@functools.wraps(answerable)
async def wrapped(*args: Any, **kwargs: Any) -> None:
    """`answerable` as an integration wraps it: the same parameters (its signature), another call."""
    await answerable(*args, **kwargs)


def why(endpoint: Callable[..., Any]) -> str | None:
    """Why `endpoint`'s route is not answerable directly where its answer declares the dependency it takes (`own`,
    or for `deeper` and `a_header_below` the one taking more than the request)."""
    declared = {deeper: needs_own, a_header_below: needs_a_header}.get(endpoint, own)
    return unanswerable(get_dependant(path="/items/{item}", call=endpoint), (declared,), endpoint=endpoint)


def test_a_dependency_with_cleanup_is_not_answered_directly() -> None:
    """The answer would call it and never run the code after its `yield` (it could not even await it)."""
    for endpoint, dependency in ((with_cleanup, own_with_cleanup), (with_sync_cleanup, own_with_sync_cleanup)):
        dependant = get_dependant(path="/items/{item}", call=endpoint)
        assert [sub.call for sub in dependant.dependencies] == [dependency]  # what the answer declares, no more
        assert unanswerable(dependant, (dependency,), endpoint=endpoint) is not None


def test_an_endpoint_wrapped_by_an_integration_is_not_answered_directly() -> None:
    """FastAPI calls the wrapper; the answer would call the endpoint's code without it."""
    dependant = get_dependant(path="/items/{item}", call=wrapped)
    assert [sub.call for sub in dependant.dependencies] == [own]  # the same parameters as `answerable`
    assert unanswerable(dependant, (own,), endpoint=answerable) is not None
    assert unanswerable(dependant, (own,), endpoint=wrapped) is None  # the wrapper alone is not what is refused


def test_only_what_the_answer_passes_is_answerable() -> None:
    assert why(answerable) is None
    refused = (
        another_dependency, one_more, none, deeper, a_header_below, an_int, a_bounded_string, a_required_query,
        a_header, a_cookie, a_body, the_response, tasks, scopes,
    )  # fmt: skip
    assert {endpoint.__name__: why(endpoint) is not None for endpoint in refused} == {
        endpoint.__name__: True for endpoint in refused
    }
