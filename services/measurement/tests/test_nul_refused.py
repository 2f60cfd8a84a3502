"""A U+0000 in a name or id is refused at the edge (422 naming the field), over REST and NATS, on both databases.

PostgreSQL's text cannot hold it (the statement fails: a 500), and SQLite's JSON functions cut a string at it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from ingest_dead_letters import Batch, dead_lettered
from sqlalchemy import func, select

from slm_measurement.models import MinuteBucket
from slm_measurement.tickets.models import TicketEventRow
from slm_shared.errors import PROBLEM_JSON
from slm_shared.testing.nats_server import NatsServer
from slm_shared.web.bounds import NUL_REFUSED

AT = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=5)


def row(**changed: str) -> dict[str, Any]:
    return {"service": "payments", "indicator": "availability", "scope": "eu", "timestamp": AT.isoformat(),
            "good": 9, "total": 10, **changed}  # fmt: skip


def series(**changed: str) -> dict[str, Any]:
    one = {"service": "payments", "indicator": "availability", "scope": "eu", "timestamps": [AT.timestamp()],
           "good": [9], "total": [10], **changed}  # fmt: skip
    return {"series": [one]}


def ticket_event(**changed: str) -> dict[str, Any]:
    return {"id": "e-1", "ticket_id": "T-1", "type": "opened", "at": AT.isoformat(), "service": "payments",
            "priority": "P2", **changed}  # fmt: skip


async def stored(app: FastAPI) -> tuple[int | None, int | None]:
    async with app.state.db.sessionmaker() as session:
        points = await session.scalar(select(func.count()).select_from(MinuteBucket))
        events = await session.scalar(select(func.count()).select_from(TicketEventRow))
    return points, events


def refused_naming(response: httpx.Response, field: str) -> None:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    (error,) = response.json()["errors"]
    assert error["field"] == field and NUL_REFUSED in error["message"], error


@pytest.mark.parametrize("name", ["service", "indicator", "scope"])
async def test_a_nul_in_a_measurement_name_is_refused_naming_it(
    app_client: tuple[FastAPI, httpx.AsyncClient], name: str
) -> None:
    app, client = app_client
    rows = await client.post("/v1/measurements", json=[row(), row(**{name: "pay\u0000ments"})])
    refused_naming(rows, f"[1].{name}")
    columnar = await client.post("/v1/measurements", json=series(**{name: "\u0000"}))
    refused_naming(columnar, f"series[0].{name}")
    ndjson = "\n".join(json.dumps(point) for point in [row(**{name: "\u0000"}), row()])
    lines = await client.post("/v1/measurements", content=ndjson, headers={"Content-Type": "application/x-ndjson"})
    refused_naming(lines, f"[0].{name}")
    assert await stored(app) == (0, 0)
    assert (await client.post("/v1/measurements", json=[row()])).status_code == 202  # the store itself is fine


@pytest.mark.parametrize("name", ["id", "ticket_id", "service"])
async def test_a_nul_in_a_ticket_event_id_is_refused_naming_it(
    app_client: tuple[FastAPI, httpx.AsyncClient], name: str
) -> None:
    app, client = app_client
    refused = await client.post("/v1/tickets/events", json=[ticket_event(id="e-0"), ticket_event(**{name: "\u0000"})])
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"].startswith(PROBLEM_JSON)
    (error,) = refused.json()["errors"]
    assert error["field"] == f"[1].{name}" and NUL_REFUSED in error["message"], error
    assert await stored(app) == (0, 0)


async def test_a_nats_batch_holding_a_nul_is_dead_lettered_at_once_naming_the_field(
    database_url: str, private_nats: NatsServer
) -> None:
    points = json.dumps(series(indicator="avail\u0000ability")).encode()
    events = json.dumps([ticket_event(ticket_id="T\u0000")]).encode()
    batches = [Batch("payments", "p-1", points), Batch("tickets", "t-1", events)]
    async with dead_lettered(database_url, private_nats.url, batches) as (app, found):
        assert await stored(app) == (0, 0)
    assert found["p-1"].deliveries == 1 and "series[0].indicator" in found["p-1"].error
    assert found["t-1"].deliveries == 1 and "[0].ticket_id" in found["t-1"].error
    assert all(NUL_REFUSED in letter.error for letter in found.values())
