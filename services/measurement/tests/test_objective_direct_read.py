"""GET /v1/objectives/{id} with no query string is answered without FastAPI's dependency resolution
(`slm_shared.web.direct_route`): these tests send each request both ways, the direct answer and FastAPI's whole
resolution, and require the same status, headers and bytes, for every role, tenant, party and token refused."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator
from typing import Annotated, Any

import fastapi.routing
import httpx
import pytest
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.routing import APIRoute
from measurement_support import activation

from slm_measurement import read_model
from slm_measurement.as_of import AtQuery
from slm_measurement.router import get_objective, router
from slm_shared.auth import TokenVerifier, issue_token
from slm_shared.errors import install_error_handlers
from slm_shared.settings import DEVELOPMENT_JWT_SECRET
from slm_shared.telemetry import setup_tracing
from slm_shared.testing.jwks import JwksServer, rsa_key, signed
from slm_shared.testing.pytest_plugin import make_token
from slm_shared.web.deps import ReaderDep
from slm_shared.web.direct_route import DirectRoute

Answer = tuple[int, list[tuple[str, str]], bytes]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def resolutions(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths of the requests FastAPI resolved dependencies for (a spy on its resolver, which it still runs)."""
    seen: list[str] = []
    resolve = fastapi.routing.solve_dependencies

    async def counted(*, request: Any, **kwargs: Any) -> Any:
        seen.append(request.url.path)
        return await resolve(request=request, **kwargs)

    monkeypatch.setattr(fastapi.routing, "solve_dependencies", counted)
    return seen


def _never_a_dependency() -> None:  # pragma: no cover - only its presence among the overrides matters
    """Overridden for the ordinary way: any override sends every request through FastAPI's resolution."""


@pytest.fixture
def both_ways(app_client: tuple[FastAPI, httpx.AsyncClient], resolutions: list[str]) -> Callable[..., Any]:
    """Send one request the direct way and then through FastAPI's resolution; both answers, checked for their way."""
    app, client = app_client

    async def send(method: str, path: str, headers: dict[str, str]) -> tuple[Answer, Answer]:
        answers = []
        for ordinary in (False, True):
            if ordinary:
                app.dependency_overrides[_never_a_dependency] = _never_a_dependency
            resolved = len(resolutions)
            try:
                request = client.build_request(method, path, headers=headers)
                if "Authorization" not in headers:  # not even the client's own
                    del request.headers["Authorization"]
                response = await client.send(request)
            finally:
                app.dependency_overrides.clear()
            assert len(resolutions) - resolved == int(ordinary), (method, path, headers, ordinary)
            answers.append((response.status_code, response.headers.multi_items(), response.content))
        return answers[0], answers[1]

    return send


async def one_objective(app: FastAPI, client: httpx.AsyncClient) -> str:
    """Activate one agreement of party-a's with one objective; the path that reads it."""
    async with app.state.db.session() as session:
        assert await read_model.apply_activation(session, tenant="acme", agreement=activation(party="party-a"))
    objective_id = (await client.get("/v1/objectives")).json()["items"][0]["id"]
    return f"/v1/objectives/{objective_id}"


def requests(etag: str) -> Iterator[tuple[str, str, dict[str, str], int]]:
    """(case, method, headers, status expected) for every principal, every refusal and the conditional forms."""
    wrong_secret = issue_token("another-secret-of-at-least-32-bytes!!", tenant="acme", roles=["admin"])
    expired = issue_token(DEVELOPMENT_JWT_SECRET, tenant="acme", roles=["admin"], ttl_seconds=-10)
    readers = {
        "admin": bearer(make_token("acme", roles=("admin",))),
        "manager": bearer(make_token("acme", roles=("manager",))),
        "its customer": bearer(make_token("acme", roles=("customer",), party="party-a")),
        "customer and ingest": bearer(make_token("acme", roles=("customer", "ingest"), party="party-a")),
    }
    for name, headers in readers.items():
        yield name, "GET", headers, 200
        yield f"{name}, its ETag", "GET", {**headers, "If-None-Match": etag}, 304
        yield f"{name}, its ETag among others", "GET", {**headers, "If-None-Match": f'"x", W/{etag}'}, 304
        yield f"{name}, any ETag", "GET", {**headers, "If-None-Match": "*"}, 304
        yield f"{name}, another ETag", "GET", {**headers, "If-None-Match": '"other"'}, 200
    refused = {
        "another party's customer": (bearer(make_token("acme", roles=("customer",), party="party-b")), 404),
        "another tenant's admin": (bearer(make_token("globex", roles=("admin",))), 404),
        "another tenant's customer of the same party": (
            bearer(make_token("globex", roles=("customer",), party="party-a")),
            404,
        ),
        "ingest only": (bearer(make_token("acme", roles=("ingest",))), 403),
        "no known role": (bearer(make_token("acme", roles=("auditor",))), 403),
        "no token": ({}, 401),
        "an empty header": ({"Authorization": ""}, 401),
        "another scheme": ({"Authorization": "Basic YWxpY2U6c2VjcmV0"}, 401),
        "a scheme alone": ({"Authorization": "Bearer"}, 401),
        "a forged token": (bearer("forged"), 401),
        "another secret's token": (bearer(wrong_secret), 401),
        "an expired token": (bearer(expired), 401),
        "a customer token naming no party": (bearer(make_token("acme", roles=("customer",))), 401),
    }
    for name, (headers, status) in refused.items():
        yield name, "GET", headers, status
        yield f"{name}, holding the ETag", "GET", {**headers, "If-None-Match": etag}, status


async def test_every_principal_and_refusal_is_answered_alike_both_ways(
    app_client: tuple[FastAPI, httpx.AsyncClient], both_ways: Callable[..., Any]
) -> None:
    app, client = app_client
    path = await one_objective(app, client)
    etag = (await client.get(path)).headers["ETag"]
    for case, method, headers, status in requests(etag):
        direct, ordinary = await both_ways(method, path, headers)
        assert direct == ordinary, case
        assert direct[0] == status, (case, direct)
        if status in (401, 403, 404):
            assert dict(direct[1])["content-type"] == "application/problem+json", case
    # ids that name no objective, or need escaping in the path, whoever asks
    admin = bearer(make_token("acme"))
    for other in ("no-such-objective", "a%20b", "%C3%A9t%C3%A9", "x" * 300, path.rsplit("/", 1)[1].upper()):
        direct, ordinary = await both_ways("GET", f"/v1/objectives/{other}", admin)
        assert direct == ordinary and direct[0] == 404, (other, direct)


async def test_a_remembered_token_once_expired_or_its_key_withdrawn_is_refused_alike_both_ways(
    app_client: tuple[FastAPI, httpx.AsyncClient], both_ways: Callable[..., Any]
) -> None:
    """The direct answer verifies through the app's verifier and its memory of verified tokens, as the route's
    dependency does: a token it remembered is refused both ways once it expires, or once its key is withdrawn
    from the identity provider's key set (which is how a signing key is revoked)."""
    app, client = app_client
    path = await one_objective(app, client)

    short = bearer(issue_token(DEVELOPMENT_JWT_SECRET, tenant="acme", roles=["admin"], ttl_seconds=2))
    direct, ordinary = await both_ways("GET", path, short)
    assert direct == ordinary and direct[0] == 200  # verified, and remembered by the app's verifier
    await asyncio.sleep(3.2 - time.time() % 1)  # `exp` is whole seconds: past it whatever the fraction now
    direct, ordinary = await both_ways("GET", path, short)
    assert direct == ordinary and direct[0] == 401 and b"expired" in direct[2], direct

    class QuickVerifier(TokenVerifier):
        cache_seconds = 0.5

    idp = JwksServer().start()
    try:
        key = rsa_key()
        idp.publish("old", key)
        app.state.token_verifier = QuickVerifier(jwks_url=idp.url)
        token = bearer(signed(key, "old", sub="alice"))
        direct, ordinary = await both_ways("GET", path, token)
        assert direct == ordinary and direct[0] == 200
        idp.withdraw("old")
        idp.publish("new", rsa_key())
        await asyncio.sleep(2 * QuickVerifier.cache_seconds + 0.2)
        direct, ordinary = await both_ways("GET", path, token)
        assert direct == ordinary and direct[0] == 401, direct
    finally:
        idp.stop()


async def test_a_query_string_is_resolved_by_fastapi(
    app_client: tuple[FastAPI, httpx.AsyncClient], resolutions: list[str]
) -> None:
    """`at` (or any query parameter) goes through FastAPI: its validation and its 422 naming the field."""
    app, client = app_client
    path = await one_objective(app, client)
    resolutions.clear()  # the list read that found the objective's id
    plain = await client.get(path)
    assert plain.status_code == 200 and resolutions == []
    assert (await client.get(f"{path}?unrelated=1")).content == plain.content and resolutions == [path]
    refused = await client.get(path, params={"at": "yesterday"})
    assert refused.status_code == 422 and refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["errors"][0]["field"] == "at" and resolutions == [path, path]


async def test_direct_reads_are_counted_by_the_metrics_under_the_route(
    app_client: tuple[FastAPI, httpx.AsyncClient], resolutions: list[str]
) -> None:
    app, client = app_client
    path = await one_objective(app, client)
    resolutions.clear()  # the list read that found the objective's id
    template = 'route="/v1/objectives/{objective_id}"'

    async def counts() -> dict[str, float]:
        found: dict[str, float] = {}
        for line in (await client.get("/metrics")).text.splitlines():
            if line.startswith("slm_http_requests_total") and template in line and 'method="GET"' in line:
                status = line.split('status="', 1)[1].split('"', 1)[0]
                found[status] = found.get(status, 0) + float(line.rsplit(" ", 1)[1])
        return found

    before = await counts()
    await client.get(path)
    await client.get(path, headers=bearer(make_token("acme", roles=("ingest",))))
    await client.get(path, headers={"Authorization": ""})
    after = await counts()
    assert path not in resolutions  # all three answered directly
    assert {status: after[status] - before.get(status, 0) for status in after} == {"200": 1, "403": 1, "401": 1}


QUIET = {"tracing": False, "metrics": False, "logs": False}  # what `create_app` passes with no exporter


async def closed() -> None:
    raise fastapi.HTTPException(status_code=418, detail="closed")


def quiet_app(served: FastAPI, **kwargs: Any) -> FastAPI:
    """An app as `create_app` makes it where nothing is exported (so FastAPI's own telemetry is off, and the
    direct answer can be taken), reading `served`'s database and verifying tokens with its verifier."""
    app = FastAPI(telemetry=QUIET, **kwargs)
    install_error_handlers(app)
    app.state.db = served.state.db
    app.state.token_verifier = served.state.token_verifier
    return app


def the_objective_read() -> APIRoute:
    route = next(r for r in router.routes if getattr(r, "path", "") == "/v1/objectives/{objective_id}")
    assert isinstance(route, DirectRoute)
    return route


def objective_router(endpoint: Callable[..., Any] | None = None, **kwargs: Any) -> APIRouter:
    """A router holding the objective read as `router` adds it (its route class, so its direct answer), with
    `endpoint` (by default the route's own) and the router's `kwargs`."""
    read = the_objective_read()
    own = APIRouter(**kwargs)
    own.add_api_route(
        read.path,
        endpoint or read.endpoint,
        methods=["GET"],
        response_model=read.response_model,
        route_class_override=type(read),
    )
    return own


def include(app: FastAPI, router_: APIRouter, *, middle: dict[str, Any] | None = None, **kwargs: Any) -> FastAPI:
    """`app` including `router_` (with `kwargs`), or, with `middle`, including a router (made with `middle`) that
    includes it."""
    if middle is None:
        app.include_router(router_, **kwargs)
    else:
        between = APIRouter(**middle)
        between.include_router(router_, **kwargs)
        app.include_router(between)
    return app


async def test_a_dependency_added_where_the_route_is_declared_or_included_turns_the_direct_answer_off(
    app_client: tuple[FastAPI, httpx.AsyncClient], resolutions: list[str]
) -> None:
    """The direct answer runs only the route's own dependency: where the app, the route's router, a router
    including it (or the inclusion itself) adds one of its own, this route's requests get FastAPI's whole
    resolution, so that dependency runs (here it refuses every request); where none adds one, they are answered
    directly."""
    served, client = app_client
    path = await one_objective(served, client)
    guard = [fastapi.Depends(closed)]
    ways: dict[str, tuple[Callable[[], FastAPI], bool]] = {  # how the app is made; whether answered directly
        "nothing added": (lambda: include(quiet_app(served), router), True),
        "nothing added, through a middle router": (lambda: include(quiet_app(served), router, middle={}), True),
        "nothing added to a router of its own": (lambda: include(quiet_app(served), objective_router()), True),
        "FastAPI(dependencies=)": (lambda: include(quiet_app(served, dependencies=guard), router), False),
        "include_router(dependencies=)": (lambda: include(quiet_app(served), router, dependencies=guard), False),
        "APIRouter(dependencies=)": (
            lambda: include(quiet_app(served), objective_router(dependencies=guard)),
            False,
        ),
        "a middle router's dependencies": (
            lambda: include(quiet_app(served), router, middle={"dependencies": guard}),
            False,
        ),
        "an inclusion's dependencies in a middle router": (
            lambda: include(quiet_app(served), router, middle={}, dependencies=guard),
            False,
        ),
    }
    answered, expected = {}, {}
    for way, (made, direct) in ways.items():
        resolutions.clear()
        transport = httpx.ASGITransport(app=made(), raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as other:
            answer = await other.get(path, headers=bearer(make_token("acme")))
        answered[way] = (answer.status_code, list(resolutions))
        expected[way] = (200, []) if direct else (418, [path])
    assert answered == expected


async def audit(request: Request) -> None:
    request.app.state.audited.append(request.url.path)


async def audited_read(
    objective_id: str,
    principal: ReaderDep,
    request: Request,
    at: AtQuery = None,
    _audit: Annotated[None, fastapi.Depends(audit)] = None,
) -> Response:
    """The objective read with one dependency more, a parameter with a default."""
    return await get_objective(objective_id, principal, request, at)


async def read_with_a_header(
    objective_id: str,
    principal: ReaderDep,
    request: Request,
    at: AtQuery = None,
    x_purpose: Annotated[str | None, fastapi.Header()] = None,
) -> Response:
    """The objective read reading a header too (FastAPI would validate it)."""
    return await get_objective(objective_id, principal, request, at)


async def read_with_the_response(
    objective_id: str, principal: ReaderDep, request: Request, response: Response, at: AtQuery = None
) -> Response:
    """The objective read taking the response too."""
    return await get_objective(objective_id, principal, request, at)


async def test_an_endpoint_resolving_more_than_the_direct_answer_passes_is_resolved_by_fastapi(
    app_client: tuple[FastAPI, httpx.AsyncClient], resolutions: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    """The direct answer passes the endpoint the route's own dependency, the path's string and the request: an
    endpoint that takes anything more (a dependency with a default, a header, the response) gets FastAPI's whole
    resolution for every request, so what it added runs, and the start-up log says why."""
    served, client = app_client
    path = await one_objective(served, client)
    answered, expected, logged = {}, {}, {}
    for endpoint in (audited_read, read_with_a_header, read_with_the_response):
        resolutions.clear()
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="slm_shared.web.direct_route"):
            app = include(quiet_app(served), objective_router(endpoint))
        logged[endpoint.__name__] = "every request resolved by FastAPI" in caplog.text
        app.state.audited = []
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as other:
            answer = await other.get(path, headers=bearer(make_token("acme")))
        answered[endpoint.__name__] = (answer.status_code, list(resolutions), app.state.audited)
        expected[endpoint.__name__] = (200, [path], [path] if endpoint is audited_read else [])
    assert answered == expected
    assert all(logged.values()), logged


async def test_with_fastapi_telemetry_on_every_request_gets_fastapi_resolution(resolutions: list[str]) -> None:
    """FastAPI's own telemetry (on where spans are exported) traces dependency resolution and the endpoint as
    spans of their own: there the route is answered by FastAPI alone, so those spans are as before."""
    setup_tracing("measurement")  # the tracer provider every service installs
    quiet = {"tracing": False, "metrics": False, "logs": False}  # what `create_app` passes with no exporter
    for telemetry, resolved in ((None, True), (quiet, False)):
        app = FastAPI(telemetry=telemetry)
        install_error_handlers(app)
        app.include_router(router)
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            refused = await client.get("/v1/objectives/any")
        assert refused.status_code == 401 and refused.headers["content-type"] == "application/problem+json"
        assert ("/v1/objectives/any" in resolutions) == resolved, telemetry
        resolutions.clear()
