"""Live evaluation, as-of reads, replays and the working count only time under a version in force, worked by hand.

Each test runs on SQLite and PostgreSQL (the `database_url` fixture) through the public API, with the
agreement delivered as the consumer receives it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import update

from slm_measurement import events as measurement_events
from slm_measurement.models import Objective
from slm_measurement.service import evaluate_due
from slm_shared.contracts import EVENTS, CloudEvent

NOW = datetime.now(UTC).replace(second=0, microsecond=0)
DAY = {"kind": "rolling", "duration": "1d"}


def availability(objective_id: str, target: float) -> dict[str, Any]:
    return {"objective_id": objective_id, "indicator": "availability", "target": target, "window": DAY}


def version(
    agreement_id: str,
    key: str,
    number: int,
    objectives: list[dict[str, Any]],
    *,
    effective_from: datetime,
    activated_at: datetime | None = None,
) -> dict[str, Any]:
    return {
        "agreement_id": agreement_id,
        "version": number,
        "kind": "SLA",
        "name": "Payments Gold",
        "service_id": "svc",
        "service_key": key,
        "consumer_party_id": "party-a",
        "effective_from": effective_from.isoformat(),
        "activated_at": (activated_at or effective_from).isoformat(),
        "objectives": objectives,
    }


async def deliver(app: FastAPI, data: dict[str, Any]) -> None:
    """Apply an agreement.activated event as the measurement consumer does."""
    event = CloudEvent(source="/slm/agreements", type=EVENTS.agreement_activated_v2.type, tenant="acme", data=data)
    async with app.state.db.session() as session:
        await measurement_events.on_agreement_activated(session, event)


async def ingest(client: httpx.AsyncClient, key: str, minutes_ago: list[int], good: float, total: float) -> None:
    points = [
        {
            "service": key,
            "indicator": "availability",
            "timestamp": (NOW - timedelta(minutes=m)).isoformat(),
            "good": good,
            "total": total,
        }
        for m in minutes_ago
    ]
    assert (await client.post("/v1/measurements", json=points)).status_code == 202


async def test_data_from_before_the_agreement_was_in_force_counts_nowhere(
    app_client: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    """The demo's story: bad minutes before activation, good ones after; healthy everywhere, breached nowhere."""
    app, client = app_client
    key, agreement_id = f"pay-{uuid.uuid4().hex[:8]}", str(uuid.uuid4())
    # Ten bad minutes 2 hours ago (95% good against 99.9%), then the agreement comes into force 30 minutes ago.
    await ingest(client, key, list(range(120, 130)), 950, 1000)
    await deliver(
        app, version(agreement_id, key, 1, [availability("avail", 0.999)], effective_from=NOW - timedelta(minutes=30))
    )
    await ingest(client, key, [1, 2, 3, 4], 1000, 1000)

    live = (await client.post("/v1/objectives/avail/evaluate")).json()
    assert (live["good"], live["total"], live["status"]) == (4000, 4000, "healthy")  # reverted: 13500/14000, breached
    rates = {r["lookback"]: r["burn_rate"] for r in live["burn_rates"]}
    assert rates["6h"] == 0.0 and rates["1h"] == 0.0  # the 6h lookback reaches the bad minutes: not counted
    assert not live["firing_alerts"]
    six_hours = (await client.get("/v1/objectives/avail/burn-rate", params={"lookback": "6h"})).json()
    assert (six_hours["good"], six_hours["total"], six_hours["burn_rate"]) == (4000, 4000, 0)

    # The evaluation pass (objectives read together) counts the same.
    async with app.state.db.session() as session:
        await session.execute(update(Objective).where(Objective.objective_id == "avail").values(needs_evaluation=True))
    assert await evaluate_due(app.state.db, interval=timedelta(hours=1), limit=100) >= 1
    stored = (await client.get("/v1/objectives/avail")).json()
    assert (stored["good"], stored["total"], stored["status"]) == (4000, 4000, "healthy")

    # As of an instant before it was in force, there is nothing to judge.
    before = (await client.get("/v1/objectives/avail", params={"at": (NOW - timedelta(minutes=60)).isoformat()})).json()
    assert (before["total"], before["status"]) == (0, "no_data")

    # The report of this month counts the same minutes as the live status.
    period = NOW.strftime("%Y-%m")
    report = (await client.get(f"/v1/agreements/{agreement_id}/report", params={"period": period})).json()
    [row] = report["objectives"]
    assert (row["good"], row["total"]) == (4000, 4000)

    working = (await client.get("/v1/objectives/avail/working")).json()
    [counted] = working["window"]["in_force"]
    assert datetime.fromisoformat(counted["start_utc"]) == NOW - timedelta(minutes=30)
    assert (working["good"], working["total"]) == (4000, 4000)


async def test_reads_as_of_an_instant_use_the_version_then_in_force(
    app_client: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    """v1 (99%) from 3 h ago, v2 (99.9%) from 1 h ago: 98.5% good in between is met under v1, missed under v2."""
    app, client = app_client
    key, agreement_id = f"amend-{uuid.uuid4().hex[:8]}", str(uuid.uuid4())
    await deliver(
        app, version(agreement_id, key, 1, [availability("amended", 0.99)], effective_from=NOW - timedelta(hours=3))
    )
    await ingest(client, key, [150, 151], 995, 1000)  # 2 minutes, 99.5% good, 2.5 hours ago (under v1)
    v2_from = NOW - timedelta(hours=1)
    await deliver(app, version(agreement_id, key, 2, [availability("amended", 0.999)], effective_from=v2_from))

    at_v1 = (NOW - timedelta(hours=2)).isoformat()
    then = (await client.get("/v1/objectives/amended", params={"at": at_v1})).json()
    in_force = (await client.get(f"/v1/agreements/{agreement_id}/versions/in-force", params={"at": at_v1})).json()
    assert (then["agreement_version"], in_force["version"]) == (1, 1)
    assert (then["target"], then["good"], then["total"], then["status"]) == (0.99, 1990, 2000, "healthy")

    now = (await client.get("/v1/objectives/amended", params={"at": NOW.isoformat()})).json()
    # v2's terms are in force now, but the window's events all fell under v1: they are judged by v1's
    # 99% (allowed 20, consumed 10), not by v2's 99.9% (99.5% < 99.9% would be breached).
    assert (now["agreement_version"], now["target"], now["status"]) == (2, 0.999, "healthy")
    assert (now["budget_target"], now["budget"]["remaining_ratio"]) == (0.99, 0.5)

    steps = (
        await client.get(
            "/v1/objectives/amended/replay",
            params={"from": (NOW - timedelta(hours=2)).isoformat(), "to": NOW.isoformat(), "step": "1h"},
        )
    ).json()["steps"]
    assert [(s["agreement_version"], s["target"], s["status"]) for s in steps] == [
        (1, 0.99, "healthy"),
        (2, 0.999, "healthy"),
        (2, 0.999, "healthy"),
    ]
    working = (await client.get("/v1/objectives/amended/working", params={"at": at_v1})).json()
    assert (working["agreement_version"], working["budget"]["target"]) == (1, 0.99)
    # Under v1: allowed = 1% of 2,000 = 20 bad events, consumed 10, remaining 10 (half the budget).
    budget = working["budget"]
    assert (budget["allowed"], budget["consumed"], budget["remaining"], budget["remaining_ratio"]) == (20, 10, 10, 0.5)


async def test_a_future_dated_amendment_changes_nothing_before_its_date(
    app_client: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, client = app_client
    key, agreement_id = f"future-{uuid.uuid4().hex[:8]}", str(uuid.uuid4())
    await deliver(
        app, version(agreement_id, key, 1, [availability("later", 0.99)], effective_from=NOW - timedelta(days=2))
    )
    await deliver(
        app,
        version(
            agreement_id,
            key,
            2,
            [availability("later", 0.9999)],
            effective_from=NOW + timedelta(days=10),
            activated_at=NOW,
        ),
    )
    await ingest(client, key, [5], 995, 1000)
    live = (await client.post("/v1/objectives/later/evaluate")).json()
    at_now = (await client.get("/v1/objectives/later", params={"at": NOW.isoformat()})).json()
    in_force = (await client.get(f"/v1/agreements/{agreement_id}/versions/in-force")).json()
    assert (live["agreement_version"], live["target"], live["status"]) == (1, 0.99, "healthy")
    assert (at_now["agreement_version"], at_now["target"], at_now["status"]) == (1, 0.99, "healthy")
    assert in_force["version"] == 1


async def test_the_working_shows_exact_decimal_figures(app_client: tuple[FastAPI, httpx.AsyncClient]) -> None:
    """900 of 1,000 good against 95%: allowed 50, consumed 100, remaining -50, burn rate 2; a tier's factor 21.6."""
    app, client = app_client
    key, agreement_id = f"exact-{uuid.uuid4().hex[:8]}", str(uuid.uuid4())
    objective = {**availability("exact", 0.95), "window": {"kind": "rolling", "duration": "30d"}}
    await deliver(app, version(agreement_id, key, 1, [objective], effective_from=NOW - timedelta(days=40)))
    tier = {"name": "fast", "severity": "page", "budget_share": 0.03, "long_window": "1h", "short_window": "5m"}
    assert (await client.put("/v1/objectives/exact/policy", json={"alert_policy": [tier]})).status_code == 200
    await ingest(client, key, [3], 900, 1000)
    working = (await client.get("/v1/objectives/exact/working")).json()
    budget = working["budget"]
    # In floats: allowed (1 - 0.95) x 1000 = 50.00000000000004, remaining -49.99999999999996.
    assert (budget["allowed"], budget["consumed"], budget["remaining"], budget["remaining_ratio"]) == (50, 100, -50, -1)
    assert working["attainment"] == 0.9
    [fast] = working["tiers"]
    assert fast["factor"] == 21.6  # 0.03 x 720 h / 1 h; in floats 21.599999999999998
    assert fast["long"]["burn_rate"] == 2  # (1 - 0.9) / (1 - 0.95); in floats 1.9999999999999978
    assert fast["long"]["burn_rate"] >= fast["factor"] / 20 and (fast["long"]["good"], fast["long"]["total"]) == (
        900,
        1000,
    )
