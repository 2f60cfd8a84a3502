"""Targets read one way (least share of good events) and thresholds counted exactly at ingest, worked by hand."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event, select

from slm_measurement import events as measurement_events
from slm_measurement.domain.histogram import bin_of
from slm_measurement.models import Objective
from slm_shared.bus import OutboxMessage
from slm_shared.contracts import EVENTS, CloudEvent
from slm_shared.testing.pytest_plugin import make_token

INGEST = {"Authorization": f"Bearer {make_token('acme', roles=('ingest',))}"}
DAY = {"kind": "rolling", "duration": "1d"}


def latency(objective_id: str, op: str, value: float, target: float) -> dict[str, Any]:
    return {
        "objective_id": objective_id,
        "indicator": "latency",
        "indicator_kind": "threshold",
        "op": op,
        "value": value,
        "target": target,
        "window": DAY,
    }


def activation_data(service_key: str, objectives: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "agreement_id": str(uuid.uuid4()),
        "version": 1,
        "kind": "SLA",
        "name": "Search Gold",
        "service_id": str(uuid.uuid4()),
        "service_key": service_key,
        "consumer_party_id": "party-a",
        "effective_from": (datetime.now(UTC) - timedelta(days=1)).isoformat(),
        "objectives": objectives,
    }


async def deliver(app: FastAPI, event_type: str, data: dict[str, Any]) -> None:
    """Apply an agreement.activated event as the measurement consumer does."""
    event = CloudEvent(source="/slm/agreements", type=event_type, tenant="acme", data=data)
    async with app.state.db.session() as session:
        await measurement_events.on_agreement_activated(session, event)


async def ingest_values(client: httpx.AsyncClient, service: str, values: list[float]) -> None:
    stamp = (datetime.now(UTC) - timedelta(minutes=2)).timestamp()
    batch = {
        "series": [{"service": service, "indicator": "latency", "timestamps": [stamp] * len(values), "values": values}]
    }
    response = await client.post("/v1/measurements", json=batch, headers=INGEST)
    assert response.status_code == 202, response.text


async def evaluate(client: httpx.AsyncClient, objective_id: str) -> dict[str, Any]:
    response = await client.post(f"/v1/objectives/{objective_id}/evaluate")
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_values_just_over_the_threshold_are_never_good(app_client: tuple[FastAPI, httpx.AsyncClient]) -> None:
    app, client = app_client
    # 300 ms and 305 ms share the 2% log bin (299.81, 305.81]: counting by bins made all 1,000 good.
    assert bin_of(300) == bin_of(305)
    await deliver(
        app, EVENTS.agreement_activated_v2.type, activation_data("search", [latency("p300", "lte", 300, 0.9)])
    )
    await ingest_values(client, "search", [305.0] * 1000)
    found = await evaluate(client, "p300")
    assert (found["good"], found["total"], found["attainment"]) == (0, 1000, 0.0)
    assert found["status"] == "breached"


async def test_values_at_the_threshold_follow_op(app_client: tuple[FastAPI, httpx.AsyncClient]) -> None:
    app, client = app_client
    objectives = [
        latency("at-most", "lte", 300, 0.5),
        latency("under", "lt", 300, 0.5),
        latency("over", "gt", 300, 0.5),
    ]
    await deliver(app, EVENTS.agreement_activated_v2.type, activation_data("maps", objectives))
    await ingest_values(client, "maps", [299.0, 300.0, 300.0, 301.0])
    # <= 300: 299, 300, 300 good (3 of 4); < 300: 299 only (1 of 4); > 300: 301 only (1 of 4).
    assert [(o["good"], o["total"]) for o in [await evaluate(client, i) for i in ("at-most", "under", "over")]] == [
        (3, 4),
        (1, 4),
        (1, 4),
    ]


async def test_a_version_1_latency_objective_is_met_at_9978_per_10000(
    app_client: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, client = app_client
    # As agreements published it before: "<= 500 ms for 95%", with `comparison` of value vs threshold.
    legacy = {
        "objective_id": "fast",
        "indicator": "latency",
        "indicator_kind": "threshold",
        "objective": 0.95,
        "comparison": "<=",
        "threshold": 500,
        "window": DAY,
    }
    await deliver(app, EVENTS.agreement_activated.type, activation_data("checkout", [legacy]))
    await ingest_values(client, "checkout", [120.0] * 9978 + [900.0] * 22)
    found = await evaluate(client, "fast")
    # 9,978 of 10,000 under 500 ms: 99.78% good against a least share of 95%: met, with 0.22% of a 5% budget spent.
    assert (found["good"], found["total"]) == (9978, 10000) and found["attainment"] == pytest.approx(0.9978)
    assert found["status"] == "healthy" and (found["op"], found["value"], found["target"]) == ("lte", 500, 0.95)
    assert found["budget"]["remaining_ratio"] == pytest.approx(1 - 0.0022 / 0.05)


async def test_one_objective_id_in_the_api_and_in_events(app_client: tuple[FastAPI, httpx.AsyncClient]) -> None:
    app, client = app_client
    objective_id = str(uuid.uuid4())
    data = activation_data("ledger", [latency(objective_id, "lte", 100, 0.99)])
    await deliver(app, EVENTS.agreement_activated_v2.type, data)
    listed = (await client.get("/v1/objectives", params={"agreement_id": data["agreement_id"]})).json()
    [item] = listed["items"]
    assert item["id"] == item["objective_id"] == objective_id
    assert (await client.get(f"/v1/objectives/{objective_id}")).json()["id"] == objective_id
    async with app.state.db.session() as session:
        row_id = (await session.scalars(select(Objective.id).where(Objective.objective_id == objective_id))).one()
    assert (await client.get(f"/v1/objectives/{row_id}")).json()["id"] == objective_id  # the old id still answers

    await ingest_values(client, "ledger", [250.0] * 10)
    assert (await evaluate(client, objective_id))["status"] == "breached"
    async with app.state.db.sessionmaker() as session:
        [breach] = (
            await session.scalars(select(OutboxMessage).where(OutboxMessage.type == EVENTS.objective_breached.type))
        ).all()
    assert breach.headers["ce-subject"] == objective_id and json.loads(breach.body)["objective_id"] == objective_id


async def test_a_threshold_objective_without_op_is_refused_by_name(
    app_client: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, client = app_client
    objective = latency("fast", "lte", 300, 0.9)
    del objective["op"]
    await deliver(app, EVENTS.agreement_activated_v2.type, activation_data("web", [objective]))
    await deliver(app, EVENTS.agreement_activated_v2.type, activation_data("web", [latency("f", "lte", 3, 1.5)]))
    # Not measured, and said so with the reason (not a silent dead letter); nothing is set up.
    async with app.state.db.sessionmaker() as session:
        rows = (
            await session.scalars(select(OutboxMessage).where(OutboxMessage.type == EVENTS.agreement_not_measured.type))
        ).all()
    refusals = [json.loads(row.body) for row in rows]
    assert len(refusals) == 2, refusals
    assert "`op`" in refusals[0]["reason"]
    assert refusals[1]["field"] == "objectives.0.target" and "less than or equal to 1" in refusals[1]["reason"]
    assert (await client.get("/v1/objectives", params={"service_key": "web"})).json()["items"] == []


async def test_ingest_reads_the_objectives_once_for_known_keys_and_thresholds(
    app_client: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    """One SELECT of the objectives before the upserts serves the catalogue-key check and the thresholds."""
    app, client = app_client
    # the batch leaves its objectives to the worker: an inline evaluation would read the ones it evaluates
    app.state.settings = app.state.settings.model_copy(update={"ingest_evaluation_limit": 0})
    objectives = [latency("fast", "lte", 200, 0.5), latency("slow", "lte", 400, 0.5)]
    await deliver(app, EVENTS.agreement_activated_v2.type, activation_data("lookup", objectives))
    selects: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "FROM objectives" in statement:
            selects.append(statement)

    engine = app.state.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        await ingest_values(client, "lookup", [150.0, 300.0, 500.0])
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert len(selects) == 1, selects
    # Both thresholds were in force at ingest: 150 is good for both, 300 for the 400 ms one only.
    assert [(o["good"], o["total"]) for o in [await evaluate(client, i) for i in ("fast", "slow")]] == [(1, 3), (2, 3)]
