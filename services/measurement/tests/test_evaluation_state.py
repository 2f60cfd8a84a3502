"""Evaluation state that stays right: late last-minute data, tiers that stop, at-risk, overflow, dense maintenance."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import nats
import nats.errors
import nats.js.errors
import pytest
from measurement_support import eventually
from sqlalchemy import func, select
from ticket_support import activate, outbox, ticket_agreement

from slm_measurement import read_model, service
from slm_measurement.config import Settings
from slm_measurement.ingest import decode_batch
from slm_measurement.main import build_app
from slm_measurement.models import MinuteBucket, Objective
from slm_shared.bus.models import DeadLetter
from slm_shared.contracts.payloads import AgreementEndedV1
from slm_shared.db import Database
from slm_shared.testing.app_client import running_app
from slm_shared.testing.nats_server import NatsServer
from slm_shared.testing.pytest_plugin import make_token


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """These tests evaluate by hand: ingestion leaves what it flags to the worker (`ingest_evaluation_limit` 0)."""
    return settings.model_copy(update={"ingest_evaluation_limit": 0})


BURN = "slm.measurement.objective.burn_alert.v1"
AT_RISK = "slm.measurement.objective.at_risk.v1"
LIMITS = service.IngestLimits(max_lateness=timedelta(days=7), max_future=timedelta(minutes=5))


def point(key: str, at: datetime, good: float, total: float) -> dict[str, Any]:
    return {"service": key, "indicator": "availability", "timestamp": at.isoformat(), "good": good, "total": total}


async def objective_of(db: Database, client, key: str, objective: dict[str, Any], **terms: Any) -> str:  # type: ignore[no-untyped-def]
    """Activate a one-objective agreement on `key`; the measurement id of its objective."""
    agreement_id = str(uuid.uuid4())
    await activate(db, ticket_agreement(agreement_id=agreement_id, service_key=key, party="p", ticket_targets=[],
                                        objectives=[{"objective_id": "o", "indicator": "availability", **objective}],
                                        **terms))  # fmt: skip
    listed = (await client.get("/v1/objectives", params={"agreement_id": agreement_id})).json()
    async with db.sessionmaker() as session:  # the row id: burn alerts carry it as objective_row_id
        row_id = await session.scalar(
            select(Objective.id).where(Objective.agreement_id == agreement_id, Objective.objective_id == "o")
        )
    assert listed["items"][0]["id"] == "o" and row_id is not None
    return str(row_id)


async def ingest_as_of(db: Database, points: list[dict[str, Any]], now: datetime) -> None:
    async with db.session() as session:
        batch = decode_batch(json.dumps(points).encode(), ndjson=False)
        await service.ingest_batch(session, tenant="acme", batch=batch, limits=LIMITS, now=now)


async def evaluate_as_of(db: Database, row_id: str, now: datetime) -> None:
    async with db.session() as session:
        objective = await session.get(Objective, row_id)
        assert objective is not None
        await service.evaluate_objective(session, objective, now=now)


async def test_a_days_last_minute_arriving_late_is_counted(app_client) -> None:  # type: ignore[no-untyped-def]
    app, client = app_client
    db: Database = app.state.db
    key = f"slices-{uuid.uuid4().hex[:8]}"
    sliced = {"target": 0.9, "budgeting_method": "timeslices", "timeslice_seconds": 60, "timeslice_target": 0.99,
              "window": {"kind": "rolling", "duration": "7d"}}  # fmt: skip
    row_id = await objective_of(db, client, key, sliced, effective_from=datetime.now(UTC) - timedelta(days=5))
    day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=2)
    last_minute = day + timedelta(hours=23, minutes=59)
    await ingest_as_of(db, [point(key, day + timedelta(hours=12), 100, 100)], last_minute + timedelta(seconds=20))
    await evaluate_as_of(db, row_id, last_minute + timedelta(seconds=30))  # the day's tally is read in its last minute
    await ingest_as_of(
        db, [point(key, last_minute + timedelta(seconds=10), 0, 100)], last_minute + timedelta(seconds=50)
    )
    evaluated = (await client.post(f"/v1/objectives/{row_id}/evaluate")).json()
    assert (evaluated["good"], evaluated["total"], evaluated["attainment"]) == (1, 2, 0.5)  # both slices of that day


async def test_a_tier_that_stops_during_a_breach_and_one_dropped_from_the_policy_say_so(app_client) -> None:  # type: ignore[no-untyped-def]
    app, client = app_client
    db: Database = app.state.db
    key = f"tiers-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    row_id = await objective_of(db, client, key, {"target": 0.99, "window": {"kind": "rolling", "duration": "1d"}},
                                effective_from=now - timedelta(days=1))  # fmt: skip
    burst = now - timedelta(minutes=20)
    await ingest_as_of(db, [point(key, burst, 500, 1000)], now)
    await evaluate_as_of(db, row_id, burst + timedelta(minutes=2))
    # 1-day period: page-1h fires at 0.02 x 24 = 0.48, page-6h at 0.05 x 4 = 0.2, ticket-3d at 0.1 / 3.
    # A 50% bad minute burns at 50 in every window that holds it.
    started = [e for e in await outbox(db, BURN, objective_row_id=row_id) if e["firing"]]
    assert sorted(e["tier"] for e in started) == ["page-1h", "page-6h", "ticket-3d"]
    later = (await client.post(f"/v1/objectives/{row_id}/evaluate")).json()  # 20 minutes on: the 5m window is empty
    assert later["status"] == "breached" and later["firing_alerts"] == ["page-6h", "ticket-3d"]
    stopped = [e for e in await outbox(db, BURN, objective_row_id=row_id) if not e["firing"]]
    assert [e["tier"] for e in stopped] == ["page-1h"]

    tier = {"name": "page-6h", "severity": "page", "budget_share": 0.05, "long_window": "6h", "short_window": "30m"}
    changed = await client.put(f"/v1/objectives/{row_id}/policy", json={"alert_policy": [tier]})
    assert changed.status_code == 200 and changed.json()["firing_alerts"] == ["page-6h"]
    stopped = [e for e in await outbox(db, BURN, objective_row_id=row_id) if not e["firing"]]
    assert [e["tier"] for e in stopped] == ["page-1h", "ticket-3d"]

    zero = await client.put(f"/v1/objectives/{row_id}/policy", json={"alert_policy": [{**tier, "short_window": "0m"}]})
    assert zero.status_code == 422 and zero.json()["errors"][0]["field"].endswith("short_window")


async def test_one_fast_forecast_is_enough_for_at_risk_and_says_when_the_budget_runs_out(app_client) -> None:  # type: ignore[no-untyped-def]
    app, client = app_client
    db: Database = app.state.db
    key = f"risk-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    row_id = await objective_of(db, client, key, {"target": 0.99, "window": {"kind": "rolling", "duration": "1d"}},
                                effective_from=now - timedelta(days=1))  # fmt: skip
    points = [point(key, now - timedelta(hours=20), 100_000, 100_000), point(key, now - timedelta(minutes=10), 98, 100)]
    assert (await client.post("/v1/measurements", json=points)).status_code == 202
    # 1 h lookback: 2% bad -> 98% expected, a miss; 24 h lookback: 2 bad in 100,100 -> a pass.
    # Budget 0.01 x 100,100 - 2 = 999 events; rolling speed 2/3600 - 1/3600 + 999/86400 per second -> about 23.4 h.
    found = (await client.post(f"/v1/objectives/{row_id}/evaluate")).json()
    assert found["status"] == "at_risk" and found["at_risk"] == "any_forecast"
    runs_out = datetime.fromisoformat(found["budget_exhausted_at"])
    evaluated = datetime.fromisoformat(found["evaluated_at"])
    assert timedelta(hours=23) < runs_out - evaluated < timedelta(hours=24)
    [event] = await outbox(db, AT_RISK, objective_id="o", service_key=key)
    assert datetime.fromisoformat(event["budget_exhausted_at"]) == runs_out

    changed = await client.put(f"/v1/objectives/{row_id}/policy", json={"at_risk": "all_forecasts"})
    assert changed.json()["at_risk"] == "all_forecasts" and changed.json()["status"] == "recovered"  # applied at once


async def test_hourly_maintenance_on_a_28_day_window_is_evaluated(app_client) -> None:  # type: ignore[no-untyped-def]
    app, client = app_client
    db: Database = app.state.db
    key = f"hourly-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    start = now - timedelta(days=30)
    hourly = {"start": start.isoformat(), "rrule": "FREQ=HOURLY", "duration_minutes": 10}
    row_id = await objective_of(db, client, key, {"target": 0.99, "window": {"kind": "rolling", "duration": "28d"}},
                                effective_from=start, maintenance_windows=[hourly])  # fmt: skip
    in_maintenance = now - timedelta(hours=3) + timedelta(minutes=5)
    outside = now - timedelta(hours=3) + timedelta(minutes=30)
    points = [point(key, in_maintenance, 0, 1000), point(key, outside, 990, 1000)]
    assert (await client.post("/v1/measurements", json=points)).status_code == 202
    evaluated = await client.post(f"/v1/objectives/{row_id}/evaluate")
    assert evaluated.status_code == 200, evaluated.text
    body = evaluated.json()
    assert (body["good"], body["total"], body["status"]) == (990, 1000, "healthy")
    assert body["excluded_minutes"] >= 28 * 24 * 10 - 10


async def test_overflowing_counts_are_refused_on_rest_and_dead_lettered_on_nats(
    database_url: str, nats_server: NatsServer
) -> None:
    settings = Settings(database_url=database_url, **nats_server.service_login("measurement"), environment="test")
    key = f"huge-{time.monotonic_ns()}"
    stamp = datetime.now(UTC) - timedelta(minutes=2)
    rows = [point(key, stamp, 1e308, 1e308), point(key, stamp, 1e308, 1e308)]
    columnar = {"series": [{"service": key, "indicator": "availability", "timestamps": [stamp.timestamp()] * 2,
                            "good": [1e308, 1e308], "total": [1e308, 1e308]}]}  # fmt: skip
    app = build_app(settings)
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    try:
        async with running_app(app, token=make_token("acme")) as client:
            db: Database = app.state.db
            for body, field in ((rows, "[0].good"), (columnar, "series[0].good[0]")):
                refused = await client.post("/v1/measurements", json=body)
                assert refused.status_code == 422 and refused.headers["content-type"] == "application/problem+json"
                assert refused.json()["errors"][0]["field"] == field

            token = {"Authorization": f"Bearer {make_token('acme', roles=('ingest',))}"}
            for _ in range(100):
                try:
                    await js.publish(
                        f"slm.ingest.acme.{key}", json.dumps(columnar).encode(), headers={**token, "Nats-Msg-Id": key}
                    )
                    break
                except (nats.errors.NoRespondersError, nats.js.errors.NoStreamResponseError):
                    await asyncio.sleep(0.1)

            async def dead_letter() -> DeadLetter | None:
                async with db.sessionmaker() as session:
                    return await session.scalar(
                        select(DeadLetter).where(DeadLetter.subject == f"slm.ingest.acme.{key}")
                    )

            letter = await eventually(dead_letter)
            assert letter.error.startswith("422") and "series[0].good[0]" in letter.error
            async with db.sessionmaker() as session:
                stored = await session.scalar(select(func.count()).where(MinuteBucket.service == key))
            assert stored == 0
    finally:
        await nc.close()


async def test_firing_tiers_the_new_terms_drop_or_an_ended_agreement_leaves_are_told_to_stop(app_client) -> None:  # type: ignore[no-untyped-def]
    app, client = app_client
    db: Database = app.state.db
    key = f"terms-tiers-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    agreement_id = str(uuid.uuid4())
    objective = {"objective_id": "o", "indicator": "availability", "target": 0.99,
                 "window": {"kind": "rolling", "duration": "1d"}}  # fmt: skip
    terms = {"ticket_targets": [], "effective_from": now - timedelta(days=1)}
    await activate(db, ticket_agreement(agreement_id=agreement_id, service_key=key, party="p",
                                        objectives=[objective], **terms))  # fmt: skip
    async with db.sessionmaker() as session:
        row_id = str(
            await session.scalar(
                select(Objective.id).where(Objective.agreement_id == agreement_id, Objective.objective_id == "o")
            )
        )
    await ingest_as_of(db, [point(key, now - timedelta(minutes=3), 500, 1000)], now)
    await evaluate_as_of(db, row_id, now)
    firing = {e["tier"] for e in await outbox(db, BURN, objective_row_id=row_id) if e["firing"]}
    assert {"page-6h", "ticket-3d"} <= firing

    # Version 2 carries its own policy (from the offering's target): only page-6h is left.
    tier = {"name": "page-6h", "severity": "page", "budget_share": 0.05, "long_window": "6h", "short_window": "30m"}
    await activate(db, ticket_agreement(agreement_id=agreement_id, service_key=key, party="p", version=2,
                                        objectives=[{**objective, "alert_policy": [tier]}], **terms))  # fmt: skip
    stopped = {e["tier"] for e in await outbox(db, BURN, objective_row_id=row_id) if not e["firing"]}
    assert firing - {"page-6h"} <= stopped and "page-6h" not in stopped
    shown = (await client.get(f"/v1/objectives/{row_id}")).json()
    assert shown["firing_alerts"] == ["page-6h"]

    # The agreement is terminated: its last firing tier stops too (a paging incident is resolved).
    async with db.session() as session:
        ended = AgreementEndedV1(agreement_id=agreement_id, version=2, reason="terminated")
        assert await read_model.apply_end(session, tenant="acme", ended=ended) == 1
    stopped = [e["tier"] for e in await outbox(db, BURN, objective_row_id=row_id) if not e["firing"]]
    assert "page-6h" in stopped
