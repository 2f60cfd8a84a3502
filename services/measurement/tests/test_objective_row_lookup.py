"""The hot objective read finds its row in one statement: by the agreement's objective id first (a live row
before an ended one, the newest first), by measurement's row id only when no objective id matches, never in
another tenant; and on SQLite that is one SELECT, where it was two."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import insert

from slm_measurement.config import Settings
from slm_measurement.lookups import objective_row
from slm_measurement.main import build_app
from slm_measurement.models import Objective
from slm_shared.testing.app_client import running_app
from slm_shared.testing.nats_server import NatsServer
from slm_shared.testing.pytest_plugin import make_token

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def objective(
    row_id: str, objective_id: str, *, tenant: str = "acme", ended: bool = False, age: int = 0
) -> dict[str, Any]:
    return {
        "id": row_id,
        "tenant": tenant,
        "agreement_id": f"agreement-{row_id}",
        "agreement_version": 1,
        "agreement_kind": "SLA",
        "objective_id": objective_id,
        "service_key": "payments",
        "indicator": "availability",
        "target": 0.999,
        "window_kind": "rolling",
        "window_duration": "30d",
        "maintenance_windows": [],
        "details": {},
        "firing_alerts": [],
        "ended": ended,
        "created_at": NOW,
        "updated_at": NOW - timedelta(minutes=age),
    }


async def seed(app: FastAPI) -> None:
    rows = [
        objective("row-ended", "availability", ended=True),  # the newest, but ended
        objective("row-old", "availability", age=10),
        objective("row-live", "availability", age=1),
        objective("shared", "latency"),  # a row id that is another row's objective id
        objective("row-shared", "shared", age=5),
        objective("row-globex", "availability", tenant="globex"),
    ]
    async with app.state.db.engine.begin() as connection:
        await connection.execute(insert(Objective.__table__), rows)  # type: ignore[attr-defined]


async def test_the_lookup_prefers_the_objective_id_and_falls_back_to_the_row_id(
    app_client: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, client = app_client
    await seed(app)
    reads = app.state.db.reader

    async def found(objective_id: str, tenant: str = "acme") -> str | None:
        row = await objective_row(reads, tenant=tenant, objective_id=objective_id)
        return None if row is None else str(row.id)

    assert await found("availability") == "row-live"  # live before ended, then the newest
    assert await found("shared") == "row-shared"  # the objective id wins over a row with that row id
    assert await found("row-old") == "row-old"  # no objective id matches: the row id does
    assert await found("row-ended") == "row-ended"
    assert await found("row-globex") is None and await found("nothing") is None  # never another tenant's
    assert await found("availability", tenant="globex") == "row-globex"
    row = await objective_row(reads, tenant="acme", objective_id="availability")
    assert row is not None and row.target == 0.999 and row.maintenance_windows == [] and row.updated_at.tzinfo

    answered = await client.get("/v1/objectives/row-old")
    assert answered.status_code == 200 and answered.json()["id"] == "availability"  # the public id is the objective id


async def test_the_lookup_is_one_statement_on_sqlite(sqlite_url: str, nats_server: NatsServer) -> None:
    settings = Settings(database_url=sqlite_url, **nats_server.service_login("measurement"), environment="test")
    app = build_app(settings.model_copy(update={"run_workers": False}))
    async with running_app(app, token=make_token("acme")):
        await seed(app)
        reads = app.state.db.reader
        assert await objective_row(reads, tenant="acme", objective_id="availability") is not None  # opens it
        inline = reads._inline_connection
        assert inline is not None, "the objective is read on the inline SQLite connection"
        statements: list[str] = []
        inline.connection.dbapi_connection.set_trace_callback(statements.append)
        try:
            row = await objective_row(reads, tenant="acme", objective_id="row-old")  # found by the fallback
        finally:
            inline.connection.dbapi_connection.set_trace_callback(None)
        assert row is not None and row.id == "row-old"
        assert len(statements) == 1, statements
