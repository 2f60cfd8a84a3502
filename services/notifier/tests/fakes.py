"""Small real HTTP apps on loopback that implement just enough of ServiceNow, Jira Service Management,
PagerDuty and the agreements service, recording every request."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, HTTPException, Request, Response

from slm_shared.auth import TokenVerifier
from slm_shared.errors import Unauthorized
from slm_shared.settings import DEVELOPMENT_JWT_SECRET, ServiceSettings


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    raw_path: str = ""  # as sent, percent-encoding kept


@dataclass
class Fake:
    app: FastAPI
    requests: list[Seen] = field(default_factory=list)
    state: dict[str, Any] = field(default_factory=dict)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _recording(fake: Fake) -> None:
    @fake.app.middleware("http")
    async def record(request: Request, call_next: Any) -> Response:
        raw = await request.body()
        body = json.loads(raw) if raw else None
        fake.requests.append(
            Seen(
                request.method,
                request.url.path,
                dict(request.query_params),
                dict(request.headers),
                body,
                request.scope["raw_path"].decode(),
            )
        )
        return await call_next(request)


def _basic(request: Request, user: str, password: str) -> None:
    expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    if request.headers.get("authorization") != expected:
        raise HTTPException(401, "bad credentials")


def _queued(fake: Fake, queue: str, status: int) -> Response | None:
    """The next answer queued in `fake.state[queue]`, if any: JSON, or `bytes` sent as they are (not JSON)."""
    if not fake.state.get(queue):
        return None
    body = fake.state[queue].pop(0)
    if isinstance(body, bytes):
        return Response(body, status_code=status, media_type="text/html")
    return Response(json.dumps(body), status_code=status, media_type="application/json")


def servicenow() -> Fake:
    """The Table API for incidents: create, query by correlation_id, update. Bodies queued in
    `state["query_answers"]` / `state["create_answers"]` are answered instead, one per request (a create still
    creates the incident)."""
    fake = Fake(FastAPI())
    incidents: dict[str, dict[str, Any]] = {}
    fake.state["incidents"] = incidents
    fake.state["query_answers"], fake.state["create_answers"] = [], []
    _recording(fake)

    @fake.app.post("/api/now/table/incident", status_code=201)
    async def create(request: Request) -> Any:
        _basic(request, "svc", "pw")
        body = await request.json()
        sys_id = uuid.uuid4().hex
        incidents[sys_id] = {**body, "sys_id": sys_id, "number": f"INC{len(incidents) + 1:07d}", "active": "true"}
        return _queued(fake, "create_answers", 201) or {"result": incidents[sys_id]}

    @fake.app.get("/api/now/table/incident")
    async def query(request: Request, sysparm_query: str = "", sysparm_limit: int = 10) -> Any:
        _basic(request, "svc", "pw")
        if queued := _queued(fake, "query_answers", 200):
            return queued
        terms = dict(term.split("=", 1) for term in sysparm_query.split("^") if "=" in term)
        found = [i for i in incidents.values() if all(str(i.get(k)) == v for k, v in terms.items())]
        return {"result": [{"sys_id": i["sys_id"], "number": i["number"]} for i in found][:sysparm_limit]}

    @fake.app.patch("/api/now/table/incident/{sys_id}")
    async def update(sys_id: str, request: Request) -> dict[str, Any]:
        _basic(request, "svc", "pw")
        if sys_id not in incidents:
            raise HTTPException(404)
        body = await request.json()
        incidents[sys_id].update(body)
        if body.get("state") == "6":
            incidents[sys_id]["active"] = "false"
        return {"result": incidents[sys_id]}

    return fake


def change_table() -> Fake:
    """ServiceNow's Table API for change_request: create, query by correlation_id, read one (any id). Bodies
    queued in `state["query_answers"]` / `state["create_answers"]` are answered instead, one per request (a
    create still creates the record)."""
    fake = Fake(FastAPI())
    records: dict[str, dict[str, Any]] = {}
    fake.state["records"] = records
    fake.state["query_answers"], fake.state["create_answers"] = [], []
    _recording(fake)

    @fake.app.post("/api/now/table/change_request", status_code=201)
    async def create(request: Request) -> Any:
        _basic(request, "svc", "pw")
        sys_id = uuid.uuid4().hex
        records[sys_id] = {**(await request.json()), "sys_id": sys_id, "number": f"CHG{len(records) + 1:07d}",
                           "state": "-5"}  # fmt: skip
        return _queued(fake, "create_answers", 201) or {"result": records[sys_id]}

    @fake.app.get("/api/now/table/change_request")
    async def query(request: Request, sysparm_query: str = "") -> Any:
        _basic(request, "svc", "pw")
        if queued := _queued(fake, "query_answers", 200):
            return queued
        terms = dict(term.split("=", 1) for term in sysparm_query.split("^") if "=" in term)
        return {"result": [r for r in records.values() if all(r.get(k) == v for k, v in terms.items())][:1]}

    @fake.app.get("/api/now/table/change_request/{sys_id:path}")
    async def read(sys_id: str, request: Request) -> dict[str, Any]:
        _basic(request, "svc", "pw")
        if sys_id not in records:
            raise HTTPException(404)
        return {"result": records[sys_id]}

    return fake


def jira() -> Fake:
    """The Service Desk API: create a request, comment, list and perform transitions."""
    fake = Fake(FastAPI())
    issues: dict[str, dict[str, Any]] = {}
    fake.state["issues"] = issues
    _recording(fake)

    @fake.app.post("/rest/servicedeskapi/request", status_code=201)
    async def create(request: Request) -> dict[str, Any]:
        _basic(request, "ops@example.com", "tok")
        key = f"SLM-{len(issues) + 1}"
        issues[key] = {"fields": (await request.json())["requestFieldValues"], "status": "Open", "comments": []}
        return {"issueId": str(10000 + len(issues)), "issueKey": key}

    @fake.app.post("/rest/servicedeskapi/request/{key}/comment", status_code=201)
    async def comment(key: str, request: Request) -> dict[str, Any]:
        _basic(request, "ops@example.com", "tok")
        issues[key]["comments"].append((await request.json())["body"])
        return {"id": str(len(issues[key]["comments"]))}

    @fake.app.get("/rest/servicedeskapi/request/{key}/transition")
    async def transitions(key: str) -> dict[str, Any]:
        return {"values": [{"id": "21", "name": "Cancel request"}, {"id": "31", "name": "Resolve"}]}

    @fake.app.post("/rest/servicedeskapi/request/{key}/transition", status_code=204)
    async def transition(key: str, request: Request) -> Response:
        issues[key]["status"] = {"31": "Resolved", "21": "Canceled"}[(await request.json())["id"]]
        return Response(status_code=204)

    return fake


def pagerduty() -> Fake:
    """The Events API v2 endpoint; while `state["refuse_triggers"]` is set, a trigger gets a 500."""
    fake = Fake(FastAPI())
    _recording(fake)

    @fake.app.post("/v2/enqueue", status_code=202)
    async def enqueue(request: Request) -> dict[str, Any]:
        body = await request.json()
        if body["event_action"] == "trigger" and fake.state.get("refuse_triggers"):
            raise HTTPException(500)
        return {"status": "success", "message": "Event processed", "dedup_key": body["dedup_key"]}

    return fake


def development_verifier() -> TokenVerifier:
    """What the agreements service verifies with in development: the JWT secret and the derived service key."""
    settings = ServiceSettings(environment="test", jwt_secret=DEVELOPMENT_JWT_SECRET)
    return TokenVerifier(secret=settings.jwt_secret, service_key=settings.service_token_key)


def agreements(parties: dict[str, dict[str, Any]], *, verifier: TokenVerifier | None = None, failing: int = 0) -> Fake:
    """`GET /v1/parties/{id}` as the agreements service answers it, for a token its verifier accepts;
    the first `failing` requests get a 503 (or set `state["down"]` to fail until it is cleared)."""
    fake = Fake(FastAPI())
    _recording(fake)
    fake.state["failing"] = failing
    check = verifier or development_verifier()

    @fake.app.get("/v1/parties/{party_id}")
    async def party(party_id: str, request: Request) -> dict[str, Any]:
        if fake.state["failing"] > 0 or fake.state.get("down"):
            fake.state["failing"] -= 1
            raise HTTPException(503)
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        try:
            principal = await check.verify(token)
        except Unauthorized as exc:
            fake.state.setdefault("refused", []).append(exc.detail)
            raise HTTPException(401, exc.detail) from exc
        fake.state.setdefault("tenants", []).append(principal.tenant)
        fake.state.setdefault("subjects", []).append(principal.subject)
        if party_id not in parties:
            raise HTTPException(404)
        return {"id": party_id, "kind": "customer", "created_at": "2026-01-01T00:00:00Z", **parties[party_id]}

    return fake


@contextlib.asynccontextmanager
async def serving(fake: Fake) -> AsyncIterator[Fake]:
    """Serve a fake with uvicorn on a free loopback port for the duration of the block."""
    # another party's server, not ours (slm_shared.cli): uvicorn's strict pure-Python parser, h11
    config = uvicorn.Config(fake.app, host="127.0.0.1", port=0, http="h11", log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    fake.port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield fake
    finally:
        server.should_exit = True
        await task
