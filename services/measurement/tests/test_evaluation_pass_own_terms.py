"""A pass over objectives on one series, each on its own terms, stores what single evaluations store.

The pass reads a series' tallies once per plan and judges each target from that one reading; the
objectives here share a series but differ in target, at-risk rule, window, burn-rate policy and
what they reported before (status, firing tiers), so readings are shared across targets and not
across windows or policies. Each objective is seeded twice: one copy evaluated by the pass, the
other alone (`evaluate_objective`), and their rows, transitions and events must be the same.
"""

from __future__ import annotations

import gc
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select, update
from sqlmodel import SQLModel

from slm_measurement import repository
from slm_measurement.evaluation_pass import evaluate_chunk
from slm_measurement.models import DayBucket, HourBucket, MinuteBucket, Objective, ObjectiveTransition
from slm_measurement.service import evaluate_due, evaluate_objective
from slm_shared.bus import OutboxMessage
from slm_shared.db import Database

NOW = datetime(2026, 3, 11, 14, 37, 23, 250000, tzinfo=UTC)
POLICY = [
    {"name": "fast", "severity": "page", "budget_share": 0.02, "long_window": "1h", "short_window": "5m"},
    {"name": "slow", "severity": "ticket", "budget_share": 0.1, "long_window": "1d", "short_window": "2h"},
]
CALENDAR = {"window_kind": "calendar", "window_duration": None, "window_unit": "month"}
# Attainment over the days is 0.995 and the recent minutes 0.99: targets around them are met,
# missed, or met but forecast to be missed; an objective that reported a breach recovers.
TERMS: list[dict[str, Any]] = [
    {"target": 0.9},
    {"target": 0.99},
    {"target": 0.992},
    {"target": 0.992, "at_risk_rule": "all_forecasts"},
    {"target": 0.9945},
    {"target": 0.996},
    {"target": 0.9999, "firing_alerts": ["page-1h"]},
    {"target": 1.0},
    {"target": 0.9, "status": "breached", "last_event": "breached", "firing_alerts": ["ticket-3d", "page-6h"]},
    {"target": 0.993, "window_duration": "7d"},
    {"target": 0.998, "window_duration": "7d"},
    {"target": 0.99, "forecast_lookbacks": ["2h", "30m"]},
    {"target": 0.99, **CALENDAR, "window_timezone": "Europe/Lisbon"},
    {"target": 0.9965, **CALENDAR, "window_timezone": "Europe/Lisbon"},
    {"target": 0.99, "alert_policy": POLICY},
    {"target": 0.999, "alert_policy": POLICY, "firing_alerts": ["slow"]},
    {"target": 0.985, "budgeting_method": "timeslices", "timeslice_seconds": 300},
]


async def _seed(db: Database) -> None:
    async with db.engine.begin() as connection:
        await connection.run_sync(SQLModel.metadata.create_all)
    seconds = int(NOW.timestamp())
    day, hour, minute = seconds // 86400, seconds // 3600, seconds // 60

    def rows(name: str, last: int, count: int, size: float, share: float) -> list[dict[str, Any]]:
        return [
            {"tenant": "acme", "service": "api", "indicator": "availability", "scope": "", name: i}
            | {"good": size * share, "total": size}
            for i in range(last - count, last + 1)
        ]

    objectives = [
        {
            "id": f"{prefix}-{n}",
            "tenant": "acme",
            "agreement_id": f"{prefix}-{n}",
            "agreement_version": 1,
            "agreement_kind": "SLA",
            "objective_id": f"objective-{n}",
            "service_key": "api",
            "indicator": "availability",
            "window_kind": "rolling",
            "window_duration": "30d",
            "maintenance_windows": [],
            "details": {},
            "firing_alerts": [],
            "created_at": NOW,
            "updated_at": NOW,
        }
        | terms
        for prefix in ("a", "b")
        for n, terms in enumerate(TERMS)
    ]
    async with db.session() as session:
        await session.execute(insert(DayBucket), rows("day", day, 40, 100_000, 0.995))
        await session.execute(insert(HourBucket), rows("hour", hour, 48, 4_000, 0.995))
        await session.execute(insert(MinuteBucket), rows("minute", minute, 1500, 70, 0.99))
        await session.execute(insert(Objective), objectives)


async def test_objectives_on_their_own_terms_store_what_single_evaluations_store(database_url: str) -> None:
    db = Database(database_url)
    try:
        await _seed(db)
        async with db.session() as session:
            ids = [f"a-{n}" for n in range(len(TERMS))]
            locked = await repository.lock_due_objectives(session, objective_row_ids=ids, stale_before=NOW)
            assert await evaluate_chunk(session, locked, now=NOW) == len(TERMS)
        async with db.session() as session:
            for n in range(len(TERMS)):
                single = await repository.get_objective(session, tenant="acme", objective_row_id=f"b-{n}")
                assert single is not None
                await evaluate_objective(session, single, now=NOW)
        async with db.sessionmaker() as session:
            objectives = {o.id: o for o in (await session.scalars(select(Objective))).all()}
            transitions = list((await session.scalars(select(ObjectiveTransition))).all())
            events = list((await session.scalars(select(OutboxMessage).order_by(OutboxMessage.seq))).all())

        def outcome(row_id: str) -> tuple[Any, ...]:
            o = objectives[row_id]
            moved = sorted(
                (t.from_status, t.to_status, t.event, t.attainment, t.expected_attainment, t.at)
                for t in transitions
                if t.objective_row_id == row_id
            )
            row = (o.status, o.last_event, o.good, o.total, o.attainment, o.window_start, o.window_end)
            return (*row, o.details, o.firing_alerts, o.needs_evaluation, o.evaluated_at, moved)

        for n in range(len(TERMS)):
            assert outcome(f"a-{n}") == outcome(f"b-{n}"), TERMS[n]
        statuses = [objectives[f"a-{n}"].status for n in range(len(TERMS))]
        # The terms lead apart: each outcome below is some objective's, so no target borrowed another's.
        assert {"healthy", "at_risk", "breached", "recovered"} <= set(statuses), statuses
        burns = {json.dumps(objectives[f"a-{n}"].details["burn_rates"]) for n in range(len(TERMS))}
        assert len(burns) >= len({t["target"] for t in TERMS}) - 1  # 0.9 and 1.0 aside, each target burns its own
        assert any(objectives[f"a-{n}"].firing_alerts for n in range(len(TERMS)))

        def reported(prefix: str) -> list[tuple[str, str, str]]:
            """The events about the copies evaluated one way (the pass takes them in row id order)."""
            found = []
            for message in events:
                body = json.loads(message.body)
                if body.pop("agreement_id").startswith(f"{prefix}-"):
                    body.pop("objective_row_id", None)
                    found.append((body.get("objective_id", ""), message.type, json.dumps(body, sort_keys=True)))
            return sorted(found)

        assert reported("a") == reported("b") and reported("a")
    finally:
        await db.dispose()


@pytest.mark.parametrize("enabled", [True, False])
async def test_a_pass_pauses_the_collector_per_chunk_and_leaves_it_as_it_found_it(
    sqlite_url: str, enabled: bool
) -> None:
    """Inside a chunk no automatic collection runs (each would rescan the chunk's objects); after it, as before."""
    db = Database(sqlite_url)
    collections: list[int] = []

    def count(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            collections.append(info["generation"])

    try:
        await _seed(db)
        async with db.session() as session:
            await session.execute(update(Objective).values(needs_evaluation=True))
        (gc.enable if enabled else gc.disable)()
        gc.collect()
        collections.clear()
        gc.callbacks.append(count)
        try:
            evaluated = await evaluate_due(db, interval=timedelta(0), limit=100, chunk=len(TERMS) * 2)
        finally:
            gc.callbacks.remove(count)
            assert gc.isenabled() is enabled
            gc.enable()
        assert evaluated == len(TERMS) * 2
        # Only what runs outside a chunk may collect: choosing the due ids, the commit, closing the session.
        assert len(collections) <= 3, collections  # 19 without the pause
    finally:
        gc.enable()
        await db.dispose()
