"""Cached timeslice tallies: recent spans are served from the cache until late data changes their hours."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, select, text, update

from slm_measurement import retention, service
from slm_measurement.config import Settings
from slm_measurement.evaluator import measure, plan
from slm_measurement.ingest import decode_batch
from slm_measurement.models import Objective, SliceTally
from slm_measurement.slices import SliceReader
from slm_shared.db import Database
from slm_shared.migrations import upgrade
from slm_shared.retention import run_retention

LIMITS = service.IngestLimits(max_lateness=timedelta(days=7), max_future=timedelta(minutes=5))
NOW = datetime.now(UTC).replace(second=0, microsecond=0)
HOUR_START = NOW.replace(minute=0) - timedelta(days=2)  # two days back: data for it is still accepted
SPAN = int(HOUR_START.timestamp()) // 60


async def sliced(url: str) -> Database:
    """A migrated database holding one 14-day timeslice objective (1-minute slices, good at >= 99%)."""
    await upgrade("slm_measurement", url)
    db = Database(url)
    async with db.session() as session:
        await session.execute(
            insert(Objective),
            [
                {
                    "id": "sliced",
                    "tenant": "acme",
                    "agreement_id": "agreement",
                    "agreement_version": 1,
                    "agreement_kind": "SLA",
                    "objective_id": "o",
                    "service_key": "checkout",
                    "indicator": "availability",
                    "target": 0.9,
                    "budgeting_method": "timeslices",
                    "timeslice_seconds": 60,
                    "timeslice_target": 0.99,
                    "window_kind": "rolling",
                    "window_duration": "14d",
                    "maintenance_windows": [],
                    "details": {},
                    "firing_alerts": [],
                    "created_at": NOW - timedelta(days=20),
                    "updated_at": NOW - timedelta(days=20),
                }
            ],
        )
    return db


def points(at: datetime, good: float) -> Any:
    body = [
        {"service": "checkout", "indicator": "availability", "timestamp": at.isoformat(), "good": good, "total": 100}
    ]
    return decode_batch(json.dumps(body).encode(), ndjson=False)


async def ingest(db: Database, at: datetime, good: float) -> None:
    async with db.session() as session:
        assert await service.ingest_batch(session, tenant="acme", batch=points(at, good), limits=LIMITS, now=NOW) == 1


async def window(db: Database, now: datetime = NOW) -> tuple[float, float]:
    """Good and counted slices of the objective's window, evaluated as of `now` (the cache read and written)."""
    async with db.session() as session:
        objective = await session.get(Objective, "sliced")
        assert objective is not None
        found = await measure(session, objective, now=now)
    return found.window.good, found.window.total


async def cached_span(db: Database) -> tuple[float, float, int, bool] | None:
    async with db.sessionmaker() as session:
        row = (
            await session.execute(
                select(SliceTally.good, SliceTally.total, SliceTally.marker, SliceTally.final).where(
                    SliceTally.objective_row_id == "sliced", SliceTally.start == SPAN
                )
            )
        ).first()
    return None if row is None else (row[0], row[1], row[2], row[3])


async def test_late_data_into_a_cached_recent_span_changes_the_attainment(database_url: str) -> None:
    db = await sliced(database_url)
    try:
        await ingest(db, HOUR_START + timedelta(minutes=10), 100)
        assert await window(db) == (1, 1)
        # The hour two days back is cached (one batch wrote it), although data for it may still arrive.
        assert await cached_span(db) == (1, 1, 1, False)

        # Served from the cache, not from minutes: a cached figure changed by hand is what is read.
        async with db.session() as session:
            await session.execute(update(SliceTally).where(SliceTally.start == SPAN).values(good=0))
        assert await window(db) == (0, 1)

        # A late bad minute in the same hour moves its change count: the span is computed again.
        await ingest(db, HOUR_START + timedelta(minutes=30), 50)
        assert await window(db) == (1, 2)
        assert await cached_span(db) == (1, 2, 2, False)

        # Once no point can arrive for it (7 days of lateness and an hour of grace), it is final.
        later = NOW + timedelta(days=7, hours=2)
        assert await window(db, later) == (1, 2)
        assert await cached_span(db) == (1, 2, 2, True)

        # An import through an instance with a longer lateness still reaches a final span.
        importing = service.IngestLimits(max_lateness=timedelta(days=90), max_future=timedelta(minutes=5))
        async with db.session() as session:
            batch = points(HOUR_START + timedelta(minutes=40), 0)
            assert await service.ingest_batch(session, tenant="acme", batch=batch, limits=importing, now=later) == 1
        assert await window(db, later) == (1, 3)
        assert await cached_span(db) == (1, 3, 3, True)
    finally:
        await db.dispose()


async def test_a_batch_committed_while_an_evaluation_caches_its_hour_is_counted_next_time(postgres_url: str) -> None:
    """PostgreSQL: the evaluation reads the hour's count before the batch commits and stores the span with it.

    A first evaluation makes the window's older spans final beforehand: one doing it now would wait for the batch.
    """
    db = await sliced(postgres_url)
    try:
        assert await window(db) == (0, 0)
        await ingest(db, HOUR_START + timedelta(minutes=10), 100)
        async with db.session() as late:
            await service.ingest_batch(
                late, tenant="acme", batch=points(HOUR_START + timedelta(minutes=30), 50), limits=LIMITS, now=NOW
            )
            assert await window(db) == (1, 1)  # another transaction: the batch is not committed yet
            assert await cached_span(db) == (1, 1, 1, False)
        assert await window(db) == (1, 2)
        assert await cached_span(db) == (1, 2, 2, False)
    finally:
        await db.dispose()


async def test_retention_deletes_cached_spans_no_window_reads(database_url: str) -> None:
    db = await sliced(database_url)
    try:
        await ingest(db, HOUR_START + timedelta(minutes=10), 100)
        assert await window(db) == (1, 1)
        day = 1440
        old = (int(NOW.timestamp()) // 60 // day - 100) * day  # 100 days back: before every window and the report
        async with db.session() as session:
            tally = {"objective_row_id": "sliced", "tenant": "acme", "good": 1.0, "total": 1.0, "marker": 1}
            await session.execute(insert(SliceTally), [tally | {"start": old, "final": True}])
        settings = Settings(database_url=database_url, minute_retention_days=1, report_trend_periods=0)
        counts = await run_retention(db, settings, now=NOW, extra=retention.purges)
        async with db.sessionmaker() as session:
            starts = set((await session.scalars(select(SliceTally.start))).all())
        assert counts["slice_tallies"] == 1 and old not in starts
        assert SPAN in starts and min(starts) >= int((NOW - timedelta(days=14)).timestamp()) // 60  # the window's stay
    finally:
        await db.dispose()


async def test_cached_spans_sum_to_what_the_minutes_give(database_url: str) -> None:
    """Cold and warm evaluations, 5-minute and 90-minute slices (3-hour spans), against the minutes alone."""
    db = await sliced(database_url)
    try:
        importing = service.IngestLimits(max_lateness=timedelta(days=14), max_future=timedelta(minutes=5))
        body = [
            {
                "service": "checkout",
                "indicator": "availability",
                "scope": f"customer-{n % 3}",
                "timestamp": (NOW - timedelta(minutes=37 * n)).isoformat(),
                "good": 100 - (n * 7) % 5,
                "total": 100,
            }
            for n in range(1, 500)
        ]
        async with db.session() as session:
            batch = decode_batch(json.dumps(body).encode(), ndjson=False)
            assert await service.ingest_batch(session, tenant="acme", batch=batch, limits=importing, now=NOW) == 499
        for seconds in (300, 5400):
            async with db.session() as session:
                await session.execute(update(Objective).values(timeslice_seconds=seconds))
                await session.execute(delete(SliceTally))
            async with db.sessionmaker() as session:
                objective = await session.get(Objective, "sliced")
                assert objective is not None
                planned = plan(objective, now=NOW, agreed=None)
                reader = SliceReader(session, objective, planned.now_end, set(), cached=False)
                expected = await reader.tallies(planned.ranges)
            cold, warm = await window(db), await window(db)
            assert cold == warm == (expected["window"].good, expected["window"].total)
            assert expected["window"].total > 0
    finally:
        await db.dispose()


async def minutes_only(db: Database, now: datetime) -> tuple[float, float]:
    """The window's good and counted slices as of `now` read from minutes alone, never the cache."""
    async with db.sessionmaker() as session:
        objective = await session.get(Objective, "sliced")
        assert objective is not None
        planned = plan(objective, now=now, agreed=None)
        found = await SliceReader(session, objective, planned.now_end, set(), cached=False).tallies(planned.ranges)
    return found["window"].good, found["window"].total


async def test_late_import_far_into_a_final_span_longer_than_a_day_changes_the_attainment(database_url: str) -> None:
    """29-minute slices make 1740-minute spans: a point 1500 minutes into a final one reopens it."""
    db = await sliced(database_url)
    try:
        async with db.session() as session:
            await session.execute(update(Objective).values(timeslice_seconds=29 * 60))
        unit = 1740
        start = -(-(int((NOW - timedelta(days=6)).timestamp()) // 60) // unit) * unit  # a whole span, days back
        span_start = datetime.fromtimestamp(start * 60, UTC)
        await ingest(db, span_start + timedelta(minutes=10), 100)
        later = NOW + timedelta(days=7, hours=2)  # no point can arrive for the span any more: it is made final
        assert await window(db, later) == (1, 1) == await minutes_only(db, later)
        async with db.sessionmaker() as session:
            final = await session.scalar(
                select(SliceTally.final).where(SliceTally.objective_row_id == "sliced", SliceTally.start == start)
            )
        assert final is True

        importing = service.IngestLimits(max_lateness=timedelta(days=90), max_future=timedelta(minutes=5))
        async with db.session() as session:
            batch = points(span_start + timedelta(minutes=1500), 0)  # more than a day into the span
            assert await service.ingest_batch(session, tenant="acme", batch=batch, limits=importing, now=later) == 1
        assert await window(db, later) == (1, 2) == await minutes_only(db, later)
    finally:
        await db.dispose()


async def waits_on_a_lock(db: Database) -> bool:
    """Whether a connection to this database is waiting for a lock (polled for up to ten seconds)."""
    for _ in range(100):
        async with db.sessionmaker() as session:
            waiting = await session.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            )
        if waiting:
            return True
        await asyncio.sleep(0.1)
    return False


async def late_import(session: Any, at: datetime, good: float, now: datetime) -> None:
    importing = service.IngestLimits(max_lateness=timedelta(days=90), max_future=timedelta(minutes=5))
    assert await service.ingest_batch(session, tenant="acme", batch=points(at, good), limits=importing, now=now) == 1


async def test_a_late_import_and_an_evaluation_making_its_span_final_wait_for_each_other(postgres_url: str) -> None:
    """PostgreSQL, both orders: a span made final while a late import into it is not committed is checked again."""
    db = await sliced(postgres_url)
    second = HOUR_START + timedelta(hours=1)
    first_final = HOUR_START + timedelta(days=7, hours=2, minutes=30)  # only the span of HOUR_START becomes final
    both_final = NOW + timedelta(days=7, hours=2)
    try:
        await ingest(db, HOUR_START + timedelta(minutes=10), 100)
        await ingest(db, second + timedelta(minutes=10), 100)
        assert await window(db) == (2, 2)
        assert await cached_span(db) == (1, 1, 1, False)

        # The import goes first: the evaluation making the span final waits for it before reading its counts.
        async with db.session() as session:
            await late_import(session, HOUR_START + timedelta(minutes=30), 0, first_final)
            evaluated = asyncio.create_task(window(db, first_final))
            waited = await waits_on_a_lock(db)
        assert await evaluated == (2, 3) == await minutes_only(db, first_final)
        assert await cached_span(db) == (1, 2, 2, True)
        assert waited

        # The evaluation making the second span final goes first: the import's reopen waits for it to commit.
        async with db.session() as evaluating:
            objective = await evaluating.get(Objective, "sliced")
            assert objective is not None
            found = await measure(evaluating, objective, now=both_final)
            assert (found.window.good, found.window.total) == (2, 3)

            async def importing() -> None:
                async with db.session() as session:
                    await late_import(session, second + timedelta(minutes=30), 0, both_final)

            imported = asyncio.create_task(importing())
            waited = await waits_on_a_lock(db)
        await imported
        assert await window(db, both_final) == (2, 4) == await minutes_only(db, both_final)
        assert waited
    finally:
        await db.dispose()
