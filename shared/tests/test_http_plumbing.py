"""Auth, problem+json errors, body limit, health and metrics on an app built by create_app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import APIRouter
from prometheus_client import generate_latest
from pydantic import BaseModel, Field

from slm_shared.app import ServiceDefinition, create_app
from slm_shared.auth import issue_token
from slm_shared.errors import NotFound
from slm_shared.settings import DEVELOPMENT_JWT_SECRET, ServiceSettings
from slm_shared.testing.app_client import running_app
from slm_shared.testing.pytest_plugin import make_token
from slm_shared.web.deps import SessionDep, StaffDep
from slm_shared.web.metrics import HttpMetrics

router = APIRouter(prefix="/v1")
_notes: dict[tuple[str, str], str] = {}


class NoteIn(BaseModel):
    name: str = Field(min_length=1, max_length=20)
    priority: int = Field(ge=1, le=4)


@router.post("/notes", status_code=201)
async def create_note(data: NoteIn, principal: StaffDep) -> dict[str, str]:
    _notes[(principal.tenant, data.name)] = data.name
    return {"name": data.name}


@router.get("/notes/{name}")
async def read_note(name: str, principal: StaffDep) -> dict[str, str]:
    if (principal.tenant, name) not in _notes:
        raise NotFound(f"No note {name}")
    return {"name": name}


@router.get("/boom")
async def boom(principal: StaffDep) -> None:
    raise RuntimeError("unexpected")


DEFINITION = ServiceDefinition(
    name="plumbing", title="Plumbing", description="test", migrations_package="none", routers=[router]
)


@pytest.fixture
async def client(sqlite_url: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = ServiceSettings(
        database_url=sqlite_url, nats_url="nats://127.0.0.1:1", run_workers=False, max_body_bytes=2048
    )
    app = create_app(DEFINITION, settings, auto_migrate=False)
    async with running_app(app) as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_no_token_is_401_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/notes/x")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["title"] == "Unauthorized"


@pytest.mark.parametrize(
    "token",
    [
        "not-a-jwt",
        issue_token("another-secret-another-secret-another-secret", tenant="acme", roles=["admin"]),
        issue_token(DEVELOPMENT_JWT_SECRET, tenant="acme", roles=["admin"], ttl_seconds=-10),
        issue_token(DEVELOPMENT_JWT_SECRET, tenant="", roles=["admin"]),
    ],
    ids=["garbage", "wrong-secret", "expired", "no-tenant"],
)
async def test_bad_tokens_are_401(client: httpx.AsyncClient, token: str) -> None:
    response = await client.get("/v1/notes/x", headers=bearer(token))
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"


async def test_role_is_checked(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/notes/x", headers=bearer(make_token(roles=("ingest",))))
    assert response.status_code == 403
    assert "admin" in response.json()["detail"]


async def test_tenant_a_cannot_read_tenant_b(client: httpx.AsyncClient) -> None:
    created = await client.post(
        "/v1/notes", json={"name": "secret", "priority": 1}, headers=bearer(make_token("tenant-a"))
    )
    assert created.status_code == 201
    assert (await client.get("/v1/notes/secret", headers=bearer(make_token("tenant-a")))).status_code == 200
    assert (await client.get("/v1/notes/secret", headers=bearer(make_token("tenant-b")))).status_code == 404


@pytest.mark.parametrize(
    ("content", "status", "field"),
    [
        (b"{not json", 400, None),
        (b'{"name": "x", "priority": "high"}', 422, "priority"),
        (b'{"name": "", "priority": 1}', 422, "name"),
        (b'{"priority": 9, "name": "x"}', 422, "priority"),
        (b"[1, 2]", 422, None),
        (b"", 422, None),
    ],
)
async def test_bad_input_is_4xx_problem_naming_the_field(
    client: httpx.AsyncClient, content: bytes, status: int, field: str | None
) -> None:
    response = await client.post(
        "/v1/notes", content=content, headers={**bearer(make_token()), "Content-Type": "application/json"}
    )
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status and body["errors"]
    if field:
        assert [e["field"] for e in body["errors"]] == [field]


async def test_oversized_body_is_413(client: httpx.AsyncClient) -> None:
    big = b'{"name": "' + b"x" * 5000 + b'", "priority": 1}'
    response = await client.post(
        "/v1/notes", content=big, headers={**bearer(make_token()), "Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"


async def test_oversized_chunked_body_is_413(client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b"x" * 500

    response = await client.post(
        "/v1/notes", content=chunks(), headers={**bearer(make_token()), "Content-Type": "application/json"}
    )
    assert response.status_code == 413


async def test_unexpected_error_is_a_problem_without_details(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/boom", headers=bearer(make_token()))
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert "unexpected" not in response.text


async def test_unknown_route_is_404_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/nothing-here", headers=bearer(make_token()))
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


async def test_health_ready_and_metrics_need_no_token(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok", "checks": {}}
    ready = await client.get("/readyz")
    assert ready.status_code == 200  # an API-only process (no workers) does not need NATS
    assert ready.json()["checks"] == {"database": "ok"}
    await client.get("/v1/notes/x")
    metrics = (await client.get("/metrics")).text
    assert 'slm_http_requests_total{method="GET",route="/v1/notes/{name}",service="plumbing",status="401"}' in metrics


def test_default_secret_is_refused_in_production() -> None:
    with pytest.raises(ValueError, match="SLM_JWT_SECRET"):
        ServiceSettings(environment="production")
    ServiceSettings(environment="production", jwt_secret="s" * 40, jwt_audience="slm", service_token_secret="t" * 40)
    ServiceSettings(environment="development")


def test_token_cli_issues_a_verifiable_token(capsys: pytest.CaptureFixture[str]) -> None:
    import jwt

    from slm_shared.auth.cli import main

    assert main(["--tenant", "acme", "--role", "customer", "--party", "p-1"]) == 0
    claims = jwt.decode(capsys.readouterr().out.strip(), DEVELOPMENT_JWT_SECRET, algorithms=["HS256"])
    assert claims["tenant"] == "acme" and claims["roles"] == ["customer"] and claims["party"] == "p-1"


async def test_readiness_waits_for_the_schema(sqlite_url: str) -> None:
    from slm_shared import migrations

    definition = ServiceDefinition(
        name="schema-probe", title="t", description="t", migrations_package="slm_shared.testing.schema", routers=[]
    )
    settings = ServiceSettings(database_url=sqlite_url, nats_url="nats://127.0.0.1:1", run_workers=False)
    async with running_app(create_app(definition, settings, auto_migrate=False)) as client:
        body = (await client.get("/readyz")).json()
        assert body["checks"]["schema"] == "not migrated"
        await migrations.upgrade("slm_shared.testing.schema", sqlite_url)
        body = (await client.get("/readyz")).json()
        assert body["checks"]["schema"] == "ok"


async def test_the_transaction_commits_before_the_response_is_sent(sqlite_url: str) -> None:
    """A 2xx must mean stored: the request's commit happens before the client hears back."""
    order: list[str] = []
    committing = APIRouter()

    @committing.post("/v1/commit-order", status_code=201)
    async def write(session: SessionDep, principal: StaffDep) -> dict[str, str]:
        session.info["on_commit"] = True
        return {"ok": "yes"}

    definition = ServiceDefinition(
        name="order", title="t", description="t", migrations_package="none", routers=[committing]
    )
    settings = ServiceSettings(database_url=sqlite_url, nats_url="nats://127.0.0.1:1", run_workers=False)
    app = create_app(definition, settings, auto_migrate=False)

    async def record_send(scope, receive, send):  # type: ignore[no-untyped-def]
        async def tracking_send(message):  # type: ignore[no-untyped-def]
            if message["type"] == "http.response.start":
                order.append("response")
            await send(message)

        await inner(scope, receive, tracking_send)

    inner = app.build_middleware_stack()
    app.middleware_stack = record_send  # type: ignore[assignment]
    async with running_app(app) as client:
        app.state.db.after_commit.append(
            lambda session: order.append("commit") if session.info.get("on_commit") else None
        )
        response = await client.post("/v1/commit-order", headers=bearer(make_token()))
    assert response.status_code == 201
    assert order == ["commit", "response"]


async def test_a_worker_process_serves_health_and_runs_workers_but_no_api(sqlite_url: str) -> None:
    import asyncio

    from slm_shared.app import ServiceContext

    started = asyncio.Event()

    async def probe_worker(context: ServiceContext) -> None:
        started.set()

    definition = ServiceDefinition(
        name="worker", title="t", description="t", migrations_package="none", routers=[router], workers=[probe_worker]
    )
    settings = ServiceSettings(database_url=sqlite_url, nats_url="nats://127.0.0.1:1", serve_api=False)
    app = create_app(definition, settings, auto_migrate=False)
    assert not [route for route in app.routes if getattr(route, "path", "").startswith("/v1")]
    async with running_app(app) as client:
        await started.wait()
        assert (await client.get("/healthz")).status_code == 200
        assert (await client.get("/metrics")).status_code == 200
        assert (await client.get("/v1/notes/x", headers=bearer(make_token()))).status_code == 404
        ready = await client.get("/readyz")
        assert ready.status_code == 503  # its workers need NATS, deliberately unreachable here
        assert ready.json()["checks"] == {"database": "ok", "nats": "unavailable"}


def test_the_worker_command_builds_a_worker_process(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from slm_shared import cli

    served: list[object] = []
    monkeypatch.setattr(cli.uvicorn, "run", lambda app, **_: served.append(app))
    settings = ServiceSettings(database_url=sqlite_url, run_workers=False)
    assert cli.run(DEFINITION, lambda: settings, ["worker", "--no-migrate"]) == 0
    app = served[0]
    assert app.state.settings.serve_api is False and app.state.settings.run_workers is True  # type: ignore[attr-defined]
    assert not [r for r in app.routes if getattr(r, "path", "").startswith("/v1")]  # type: ignore[attr-defined]


def test_request_metrics_resolve_their_labels_once_per_route_method_and_status() -> None:
    """Each request is counted and timed under its labels; the labelled children are looked up once per
    (method, route, status), not per request."""
    metrics = HttpMetrics("plumbing")
    looked_up: list[tuple[str, ...]] = []
    counter_labels, histogram_labels = metrics.requests.labels, metrics.latency.labels

    def counted_counter(*values: str) -> Any:
        looked_up.append(values)
        return counter_labels(*values)

    def counted_histogram(*values: str) -> Any:
        looked_up.append(values)
        return histogram_labels(*values)

    metrics.requests.labels = counted_counter  # type: ignore[method-assign]
    metrics.latency.labels = counted_histogram  # type: ignore[method-assign]
    for status in (200, 200, 200, 404, 200):
        metrics.observe("GET", "/v1/notes/{name}", status, 0.002)
    metrics.observe("POST", "/v1/notes/{name}", 200, 0.004)
    text = generate_latest(metrics.registry).decode()
    assert 'slm_http_requests_total{method="GET",route="/v1/notes/{name}",service="plumbing",status="200"} 4.0' in text
    assert 'slm_http_requests_total{method="GET",route="/v1/notes/{name}",service="plumbing",status="404"} 1.0' in text
    assert 'slm_http_requests_total{method="POST",route="/v1/notes/{name}",service="plumbing",status="200"} 1.0' in text
    get_count = 'slm_http_request_duration_seconds_count{method="GET",route="/v1/notes/{name}",service="plumbing"} 5.0'
    assert get_count in text
    assert len(looked_up) == 6, looked_up  # two label lookups for each of the three (method, route, status)


def test_request_metrics_count_made_up_methods_under_one_label() -> None:
    """Routing answers any method name (405) before a token is checked: made-up names add no label sets."""
    metrics = HttpMetrics("plumbing")
    for n in range(50):
        metrics.observe(f"FOO{n}", "/v1/notes/{name}", 405, 0.001)
    metrics.observe("PATCH", "/v1/notes/{name}", 405, 0.001)
    text = generate_latest(metrics.registry).decode()
    assert (
        'slm_http_requests_total{method="other",route="/v1/notes/{name}",service="plumbing",status="405"} 50.0' in text
    )
    assert (
        'slm_http_requests_total{method="PATCH",route="/v1/notes/{name}",service="plumbing",status="405"} 1.0' in text
    )
    assert "FOO" not in text
