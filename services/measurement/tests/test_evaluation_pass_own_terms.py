"""A pass over objectives on one series, each on its own terms, stores what single evaluations store.

The pass reads a series' tallies once per plan and judges each target from that one reading; the
objectives here share a series but differ in target, at-risk rule, window, burn-rate policy and
what they reported before (status, firing tiers), so readings are shared across targets and not
across windows or policies. Each objective is seeded twice: one copy evaluated by the pass, the
other alone (`evaluate_objective`), and their rows, transitions and events must be the same.
"""

from __future__ import annotations

import asyncio
import gc
import json
import math
import weakref
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlmodel import SQLModel

from slm_measurement import pass_locks, repository
from slm_measurement.evaluation_pass import evaluate_chunk
from slm_measurement.gc_spacing import SPACED_YOUNG, collections_spaced
from slm_measurement.models import DayBucket, HourBucket, MinuteBucket, Objective, ObjectiveTransition
from slm_measurement.service import evaluate_due, evaluate_objective
from slm_shared.bus import OutboxMessage
from slm_shared.db import Database

NOW = datetime(2026, 3, 11, 14, 37, 23, 250000, tzinfo=UTC)
POLICY = [
    {"name": "fast", "severity": "page", "budget_share": 0.02, "long_window": "1h", "short_window": "5m"},
    {"name": "slow", "severity": "ticket", "budget_share": 0.1, "long_window": "1d", "short_window": "2h"},
]
FAST = {"name": "fast", "severity": "page", "long_window": "1h", "short_window": "5m"}
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
    # Same ranges, different policy: a reading must not be shared across policies.
    {"target": 0.99, "alert_policy": [FAST | {"budget_share": 0.02}]},
    {"target": 0.99, "alert_policy": [FAST | {"budget_share": 0.5}]},
    # Same series and targets, minutes left out by a maintenance window or counted bad by an observed span.
    {"target": 0.99, "maintenance_windows": [{"start": "2026-03-11T13:00:00Z", "end": "2026-03-11T14:00:00Z"}]},
    {"target": 0.992, "maintenance_windows": [{"start": "2026-03-11T13:00:00Z", "end": "2026-03-11T14:00:00Z"}]},
    {"target": 0.99, "observed": [{"start": "2026-03-11T14:00:00Z", "end": "2026-03-11T14:20:00Z"}]},
    {"target": 0.992, "observed": [{"start": "2026-03-11T14:00:00Z", "end": "2026-03-11T14:20:00Z"}]},
    # Another tenant's series of the same name (worse), and a scoped series of the first tenant's.
    {"target": 0.99, "tenant": "globex"},
    {"target": 0.992, "tenant": "globex"},
    {"target": 0.99, "scope": "eu"},
]


def same_to_rounding(a: Any, b: Any) -> bool:
    """Equal, floats to within 1e-12 of each other: on PostgreSQL a SUM of DOUBLE PRECISION adds rows in the
    plan's order, and a pass's wider scan can be planned apart from a single evaluation's, so the last bits of a
    burn rate may differ while every status, count of rows, alert and event is the same."""
    if isinstance(a, float) or isinstance(b, float):
        return (
            isinstance(a, int | float)
            and isinstance(b, int | float)
            and math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12)
        )
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_to_rounding(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return type(a) is type(b) and len(a) == len(b) and all(map(same_to_rounding, a, b))
    return bool(a == b)


async def _seed(db: Database, prefixes: tuple[str, ...] = ("a", "b")) -> None:
    async with db.engine.begin() as connection:
        await connection.run_sync(SQLModel.metadata.create_all)
    seconds = int(NOW.timestamp())
    day, hour, minute = seconds // 86400, seconds // 3600, seconds // 60

    def rows(name: str, last: int, count: int, size: float, share: float) -> list[dict[str, Any]]:
        series = [("acme", "", 1.0), ("globex", "", 0.995), ("acme", "eu", 0.998)]  # the others a little worse
        return [
            {"tenant": tenant, "service": "api", "indicator": "availability", "scope": scope, name: i}
            | {"good": size * share * worse, "total": size}
            for tenant, scope, worse in series
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
        for prefix in prefixes
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
            locked = await pass_locks.lock_due_objectives(session, objective_row_ids=ids, stale_before=NOW)
            assert await evaluate_chunk(session, locked, now=NOW) == len(TERMS)
        async with db.session() as session:
            for n in range(len(TERMS)):
                tenant = TERMS[n].get("tenant", "acme")
                single = await repository.get_objective(session, tenant=tenant, objective_row_id=f"b-{n}")
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
            assert same_to_rounding(outcome(f"a-{n}"), outcome(f"b-{n}")), (
                TERMS[n],
                outcome(f"a-{n}"),
                outcome(f"b-{n}"),
            )
        statuses = [objectives[f"a-{n}"].status for n in range(len(TERMS))]
        # The terms lead apart: each outcome below is some objective's, so no target borrowed another's.
        assert {"healthy", "at_risk", "breached", "recovered"} <= set(statuses), statuses
        burns = {json.dumps(objectives[f"a-{n}"].details["burn_rates"]) for n in range(len(TERMS))}
        assert len(burns) >= len({t["target"] for t in TERMS}) - 1  # 0.9 and 1.0 aside, each target burns its own
        assert any(objectives[f"a-{n}"].firing_alerts for n in range(len(TERMS)))

        def reported(prefix: str) -> list[tuple[str, str, dict[str, Any]]]:
            """The events about the copies evaluated one way (the pass takes them in row id order)."""
            found = []
            for message in events:
                body = json.loads(message.body)
                if body.pop("agreement_id").startswith(f"{prefix}-"):
                    body.pop("objective_row_id", None)
                    found.append((body.get("objective_id", ""), message.type, body))
            return sorted(found, key=lambda event: (event[0], event[1], json.dumps(event[2], sort_keys=True)))

        assert reported("a") and same_to_rounding(reported("a"), reported("b"))
    finally:
        await db.dispose()


async def _due(db: Database) -> None:
    await _seed(db)
    async with db.session() as session:
        await session.execute(update(Objective).values(needs_evaluation=True))


@pytest.mark.parametrize("enabled", [True, False])
async def test_a_pass_spaces_collections_out_per_chunk_and_leaves_the_collector_as_it_found_it(
    sqlite_url: str, enabled: bool
) -> None:
    """Inside a chunk young collections are few (each would rescan the chunk's objects); after it, as before."""
    db = Database(sqlite_url)
    collections: list[int] = []

    def count(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            collections.append(info["generation"])

    before = gc.get_threshold()
    try:
        await _due(db)
        (gc.enable if enabled else gc.disable)()
        gc.collect()
        collections.clear()
        gc.callbacks.append(count)
        try:
            evaluated = await evaluate_due(db, interval=timedelta(0), limit=100, chunk=len(TERMS) * 2)
        finally:
            gc.callbacks.remove(count)
            assert gc.isenabled() is enabled
            assert gc.get_threshold() == before
            gc.enable()
        assert evaluated == len(TERMS) * 2
        assert len(collections) <= 3, collections  # 19 with the defaults (or pausing around judging alone)
    finally:
        gc.enable()
        await db.dispose()


async def test_a_failing_write_leaves_the_collector_as_it_found_it(sqlite_url: str) -> None:
    """Every write of a chunk refused (a real trigger): the pass logs it, and the thresholds come back."""
    db = Database(sqlite_url)
    before = gc.get_threshold()
    try:
        await _due(db)
        async with db.session() as session:
            await session.execute(
                text(
                    "CREATE TRIGGER refuse_outcomes BEFORE UPDATE ON objectives "
                    "BEGIN SELECT RAISE(ABORT, 'outcomes refused'); END"
                )
            )
        assert await evaluate_due(db, interval=timedelta(0), limit=100, chunk=len(TERMS) * 2) == 0
        assert gc.isenabled() and gc.get_threshold() == before
        # And one raised out of the chunk (the due ids locked by a statement the database refuses).
        async with db.session() as session:
            await session.execute(text("DROP TRIGGER refuse_outcomes"))
            await session.execute(text("ALTER TABLE objectives RENAME COLUMN needs_evaluation TO renamed"))
        with pytest.raises(DBAPIError):
            await evaluate_due(db, interval=timedelta(0), limit=100, chunk=len(TERMS) * 2)
        assert gc.isenabled() and gc.get_threshold() == before
    finally:
        gc.enable()
        gc.set_threshold(*before)
        await db.dispose()


async def test_collection_runs_while_a_chunk_waits_on_the_database_and_a_cancelled_chunk_restores_it(
    postgres_url: str,
) -> None:
    """Another connection holds the rollups: while the chunk waits, other tasks' cyclic garbage is still collected."""
    db = Database(postgres_url)
    before = gc.get_threshold()
    try:
        await _due(db)
        async with db.engine.connect() as holder:
            await holder.execute(text("LOCK TABLE day_buckets, hour_buckets, minute_buckets IN ACCESS EXCLUSIVE MODE"))
            passing = asyncio.create_task(evaluate_due(db, interval=timedelta(0), limit=100, chunk=len(TERMS) * 2))
            waiting = text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")
            for _ in range(500):
                await asyncio.sleep(0.02)
                if (await holder.scalar(waiting)) or passing.done():
                    break
            assert not passing.done() and await holder.scalar(waiting), "the chunk never waited on the lock"
            assert gc.isenabled()
            # Cyclic garbage another task makes now is collected without anyone asking.
            cycle: list[Any] = []
            cycle.append(cycle)
            gone = weakref.finalize(_Cycle(cycle), lambda: None)
            del cycle
            made = [[] for _ in range(4 * SPACED_YOUNG)]  # containers kept, as requests in flight keep theirs
            assert not gone.alive
            del made
            passing.cancel()
            with pytest.raises(asyncio.CancelledError):
                await passing
            await holder.rollback()
        assert gc.isenabled() and gc.get_threshold() == before
    finally:
        gc.enable()
        gc.set_threshold(*before)
        await db.dispose()


class _Cycle:
    """An object in a reference cycle (freed only by the collector)."""

    def __init__(self, cycle: list[Any]) -> None:
        self.cycle = cycle
        cycle.append(self)


def test_spacings_count_process_wide_and_respect_thresholds_set_by_others() -> None:
    """Overlapping passes: the thresholds come back when the last ends, and others' settings are kept."""
    before = gc.get_threshold()
    try:
        first, second = collections_spaced(), collections_spaced()
        first.__enter__()
        assert gc.get_threshold()[0] == SPACED_YOUNG
        second.__enter__()
        first.__exit__(None, None, None)  # the first ends while the second goes on
        assert gc.get_threshold()[0] == SPACED_YOUNG
        second.__exit__(None, None, None)
        assert gc.get_threshold() == before
        # Someone sets thresholds of their own during a pass: theirs stay.
        with collections_spaced():
            gc.set_threshold(1234, 5, 6)
        assert gc.get_threshold() == (1234, 5, 6)
        gc.set_threshold(*before)
        # Someone disabled collection: a pass neither enables it nor leaves it spaced.
        gc.disable()
        with collections_spaced():
            assert not gc.isenabled()
        assert not gc.isenabled() and gc.get_threshold() == before
        gc.enable()
        # Or switched automatic collection off with a zero threshold: a pass does not switch it on.
        gc.set_threshold(0)
        with collections_spaced():
            assert gc.get_threshold()[0] == 0
        assert gc.get_threshold()[0] == 0
    finally:
        gc.enable()
        gc.set_threshold(*before)
