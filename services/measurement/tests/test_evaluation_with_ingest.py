"""A batch that flags few objectives has them evaluated in its own transaction: its breach commits with it."""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pydantic import ValidationError
from sqlalchemy import func, select, text, update
from sqlmodel import col
from test_evaluation_pass_optimistic import savepoints, statements
from test_evaluation_wake import INGEST, agreement_on, breaching
from ticket_support import outbox

from slm_measurement import chunk_failures, flagged_pass, inline_evaluation, service
from slm_measurement.config import Settings
from slm_measurement.models import MinuteBucket, Objective, ObjectiveTransition
from slm_shared.contracts.registry import EVENTS
from slm_shared.db import Database

BREACHED = EVENTS.objective_breached.type


async def _objective(db: Database, agreement_id: str) -> Objective:
    async with db.sessionmaker() as session:
        found = await session.scalar(select(Objective).where(col(Objective.agreement_id) == agreement_id))
        assert found is not None
        return found


async def _transitions_to(db: Database, row_id: str, status: str) -> int:
    async with db.sessionmaker() as session:
        counted = await session.scalar(
            select(func.count()).where(
                col(ObjectiveTransition.objective_row_id) == row_id, col(ObjectiveTransition.to_status) == status
            )
        )
        return int(counted or 0)


async def _total(db: Database, key: str) -> float:
    async with db.sessionmaker() as session:
        return float(await session.scalar(select(func.sum(MinuteBucket.total)).where(MinuteBucket.service == key)) or 0)


async def _quiet(db: Database, key: str) -> None:
    """As after a quiet spell: the objectives on `key` were last evaluated an hour ago."""
    async with db.session() as session:
        await session.execute(
            update(Objective)
            .where(col(Objective.service_key) == key)
            .values(evaluated_at=datetime.now(UTC) - timedelta(hours=1))
        )


def _point(key: str, minutes_ago: int, *, good: int = 950, total: int = 1000) -> dict[str, Any]:
    at = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=minutes_ago)
    return {"service": key, "indicator": "availability", "timestamp": at.isoformat(), "good": good, "total": total}


async def _writers_waiting(db: Database, count: int) -> None:
    async with asyncio.timeout(30):
        while db._writer_lock is None or db._writer_lock[1].waiting() < count:
            await asyncio.sleep(0.01)


async def test_a_breaching_batch_is_answered_with_its_breach_already_in_the_outbox(app_client) -> None:  # type: ignore[no-untyped-def]
    """No worker runs here: only the ingest's own transaction can have evaluated the objective."""
    app, client = app_client
    db: Database = app.state.db
    key = f"inline-{uuid.uuid4().hex[:8]}"
    agreement_id = await agreement_on(db, key)
    assert await service.evaluate_due(db, interval=timedelta(hours=1), limit=100) >= 1  # no data yet: no breach
    await _quiet(db, key)

    response = await client.post("/v1/measurements", json=breaching(key), headers=INGEST)
    assert response.status_code == 202, response.text

    [event] = await outbox(db, BREACHED, agreement_id=agreement_id)
    assert event["service_key"] == key
    found = await _objective(db, agreement_id)
    assert (found.status, found.needs_evaluation, found.total) == ("breached", False, 5000)
    assert await _transitions_to(db, found.id, "breached") == 1
    assert await flagged_pass.evaluate_flagged(db, limit=100) == 0  # nothing left for the worker


async def test_a_batch_flagging_more_objectives_than_the_limit_leaves_them_to_the_worker(app_client) -> None:  # type: ignore[no-untyped-def]
    app, client = app_client
    db: Database = app.state.db
    app.state.settings = app.state.settings.model_copy(update={"ingest_evaluation_limit": 1})
    key = f"over-{uuid.uuid4().hex[:8]}"
    agreements = [await agreement_on(db, key) for _ in range(2)]  # two objectives on one series
    assert await service.evaluate_due(db, interval=timedelta(hours=1), limit=100) >= 2
    await _quiet(db, key)

    response = await client.post("/v1/measurements", json=breaching(key), headers=INGEST)
    assert response.status_code == 202, response.text

    assert [await outbox(db, BREACHED, agreement_id=a) for a in agreements] == [[], []]
    assert [(await _objective(db, a)).needs_evaluation for a in agreements] == [True, True]
    assert await flagged_pass.evaluate_flagged(db, limit=100) == 2
    assert [len(await outbox(db, BREACHED, agreement_id=a)) for a in agreements] == [1, 1]


async def test_an_evaluation_failing_in_sql_with_its_batch_keeps_the_batch_and_leaves_the_objective_flagged(
    app_client,
) -> None:  # type: ignore[no-untyped-def]
    """The evaluation fails in the database (a trigger refuses its outbox row): only its savepoint is undone."""
    app, client = app_client
    db: Database = app.state.db
    key = f"poison-{uuid.uuid4().hex[:8]}"
    agreement_id = await agreement_on(db, key)
    assert await service.evaluate_due(db, interval=timedelta(hours=1), limit=100) >= 1
    await _quiet(db, key)
    await refuse_outbox(db)

    response = await client.post("/v1/measurements", json=breaching(key), headers=INGEST)
    assert response.status_code == 202, response.text  # acknowledged: stored

    assert await _total(db, key) == 5000
    found = await _objective(db, agreement_id)
    assert (found.status, found.needs_evaluation) == ("no_data", True)  # left for the worker
    assert await outbox(db, BREACHED, agreement_id=agreement_id) == []
    assert await _transitions_to(db, found.id, "breached") == 0


async def refuse_outbox(db: Database, *, deferred: bool = False) -> None:
    """A real trigger: the database refuses every outbox row, so recording an event fails in SQL.

    `deferred` (PostgreSQL only): a constraint trigger checked at COMMIT, so the refusal comes with the commit.
    """
    async with db.session() as session:
        if db.engine.dialect.name == "postgresql":
            await session.execute(
                text(
                    "CREATE FUNCTION refuse_outbox() RETURNS trigger LANGUAGE plpgsql AS"
                    " $$ BEGIN RAISE EXCEPTION 'outbox refused'; END $$"
                )
            )
            when = "AFTER INSERT ON outbox DEFERRABLE INITIALLY DEFERRED" if deferred else "BEFORE INSERT ON outbox"
            kind = "CONSTRAINT TRIGGER" if deferred else "TRIGGER"
            await session.execute(
                text(f"CREATE {kind} refuse_outbox {when} FOR EACH ROW EXECUTE FUNCTION refuse_outbox()")
            )
        else:
            await session.execute(
                text(
                    "CREATE TRIGGER refuse_outbox BEFORE INSERT ON outbox"
                    " BEGIN SELECT RAISE(ABORT, 'outbox refused'); END"
                )
            )


async def _spoil(db: Database, agreement_id: str, **values: Any) -> None:
    """Store terms of the agreement's objective that this release cannot evaluate."""
    async with db.session() as session:
        await session.execute(update(Objective).where(col(Objective.agreement_id) == agreement_id).values(**values))


async def _two_breaching_batches(db: Database, client: httpx.AsyncClient, key: str) -> None:
    for _ in range(2):
        await _quiet(db, key)
        response = await client.post("/v1/measurements", json=breaching(key), headers=INGEST)
        assert response.status_code == 202, response.text


async def test_a_bad_objective_does_not_keep_its_healthy_sibling_from_being_evaluated_with_the_batch(
    app_client, caplog: pytest.LogCaptureFixture
) -> None:  # type: ignore[no-untyped-def]
    app, client = app_client
    db: Database = app.state.db
    key = f"sibling-{uuid.uuid4().hex[:8]}"
    healthy, bad = await agreement_on(db, key), await agreement_on(db, key)
    assert await service.evaluate_due(db, interval=timedelta(hours=1), limit=100) >= 2
    await _spoil(db, bad, observed=[{"start": "not an instant", "end": "never"}])  # its evaluation fails
    caplog.set_level(logging.ERROR, logger="slm_measurement.service")

    await _two_breaching_batches(db, client, key)  # the second finds the bad one known: not tried (nor logged) again

    found = await _objective(db, healthy)
    assert (found.status, found.needs_evaluation, found.total) == ("breached", False, 10000)
    assert len(await outbox(db, BREACHED, agreement_id=healthy)) == 1
    broken = await _objective(db, bad)
    assert (broken.status, broken.needs_evaluation) == ("no_data", True)  # left for the worker
    assert [r.getMessage() for r in caplog.records if "with its batch failed" in r.getMessage()] == [
        f"evaluating objective {broken.id} with its batch failed; the worker evaluates it (logged once per version)"
    ]


async def test_an_objective_whose_plan_fails_is_known_after_one_batch_and_its_sibling_still_evaluated(
    app_client, caplog: pytest.LogCaptureFixture
) -> None:  # type: ignore[no-untyped-def]
    """A plan failure is logged (once) and skipped by the pass, not raised: the ingest remembers it, no retry."""
    app, client = app_client
    db: Database = app.state.db
    app.state.settings = app.state.settings.model_copy(update={"ingest_evaluation_interval_seconds": 0.0})
    key = f"unplanned-{uuid.uuid4().hex[:8]}"
    healthy, bad = await agreement_on(db, key), await agreement_on(db, key)
    assert await service.evaluate_due(db, interval=timedelta(hours=1), limit=100) >= 2
    # a burn tier whose lookback is no duration: planning it fails
    await _spoil(db, bad, alert_policy=[{"name": "x", "severity": "page", "budget_share": 0.02, "long_window": "soon"}])
    caplog.set_level(logging.WARNING)

    with statements(db) as sent:
        await _two_breaching_batches(db, client, key)  # the second finds the bad one known: not tried (nor logged)

    found = await _objective(db, healthy)
    assert (found.status, found.needs_evaluation, found.total) == ("breached", False, 10000)
    broken = await _objective(db, bad)
    assert broken.needs_evaluation  # left for the worker
    assert [(r.levelname, r.getMessage()) for r in caplog.records if r.levelno >= logging.WARNING] == [
        ("ERROR", f"evaluation of objective {broken.id} failed")  # by the pass's planner, with its traceback
    ]
    assert savepoints(sent) == [], "no guarded retry: planning wrote nothing"
    assert len([s for s in sent if s.startswith("INSERT INTO MINUTE_BUCKETS")]) == 2  # each batch ingested once


async def test_batches_on_a_series_evaluated_within_the_interval_are_left_to_the_worker(app_client) -> None:  # type: ignore[no-untyped-def]
    """Coalescing: the first batch after a quiet spell is evaluated with it, the next ones by the worker, once."""
    app, client = app_client
    db: Database = app.state.db
    app.state.settings = app.state.settings.model_copy(update={"ingest_evaluation_interval_seconds": 3600.0})
    key = f"hot-{uuid.uuid4().hex[:8]}"
    agreement_id = await agreement_on(db, key)
    assert await service.evaluate_due(db, interval=timedelta(hours=1), limit=100) >= 1
    await _quiet(db, key)

    for minutes_ago in range(1, 6):  # five batches of one point each, one after the other
        response = await client.post("/v1/measurements", json=[_point(key, minutes_ago)], headers=INGEST)
        assert response.status_code == 202, response.text

    found = await _objective(db, agreement_id)
    # Evaluated with the first batch only: its breach is out; the four later batches wait, flagged.
    assert (found.status, found.needs_evaluation, found.total) == ("breached", True, 1000)
    assert len(await outbox(db, BREACHED, agreement_id=agreement_id)) == 1
    assert await flagged_pass.evaluate_flagged(db, limit=100) == 1  # one evaluation for the four
    found = await _objective(db, agreement_id)
    assert (found.status, found.needs_evaluation, found.total) == ("breached", False, 5000)
    assert await _transitions_to(db, found.id, "breached") == 1
    assert len(await outbox(db, BREACHED, agreement_id=agreement_id)) == 1


async def test_a_negative_ingest_evaluation_limit_is_refused_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MEASUREMENT_INGEST_EVALUATION_LIMIT", "-1")
    with pytest.raises(ValidationError, match="MEASUREMENT_INGEST_EVALUATION_LIMIT must be 0 or more"):
        Settings()


async def test_concurrent_batches_on_two_series_with_the_workers_record_one_breach_each_and_count_all(
    app_client,
) -> None:  # type: ignore[no-untyped-def]
    """Batches at once, on different minutes, each with points on two series in alternating order ({A,B} then
    {B,A}), while the flagged worker and a periodic pass run: on PostgreSQL they hold the same rows at once."""
    app, client = app_client
    db: Database = app.state.db
    app.state.settings = app.state.settings.model_copy(update={"ingest_evaluation_interval_seconds": 0.0})
    keys = [f"together-{uuid.uuid4().hex[:8]}" for _ in range(2)]
    agreements = [await agreement_on(db, key) for key in keys]
    assert await service.evaluate_due(db, interval=timedelta(hours=1), limit=100) >= 2
    batches = 8
    posting = True

    async def workers() -> None:
        while posting:
            await flagged_pass.evaluate_flagged(db, limit=100)
            await service.evaluate_due(db, interval=timedelta(0), limit=100)
            await asyncio.sleep(0)

    def batch(i: int) -> list[dict[str, Any]]:
        points = [_point(key, i + 1) for key in keys]
        return points if i % 2 == 0 else points[::-1]

    worker = asyncio.create_task(workers())
    try:
        responses = await asyncio.gather(
            *(client.post("/v1/measurements", json=batch(i), headers=INGEST) for i in range(batches))
        )
    finally:
        posting = False
        await worker
    assert [r.status_code for r in responses] == [202] * batches, [r.text for r in responses]
    await flagged_pass.evaluate_flagged(db, limit=100)  # whatever the batches left flagged

    for key, agreement_id in zip(keys, agreements, strict=True):
        assert await _total(db, key) == 1000 * batches
        found = await _objective(db, agreement_id)
        assert (found.status, found.needs_evaluation, found.total) == ("breached", False, 1000 * batches)
        assert await _transitions_to(db, found.id, "breached") == 1
        assert len(await outbox(db, BREACHED, agreement_id=agreement_id)) == 1
    assert await flagged_pass.evaluate_flagged(db, limit=100) == 0


async def test_an_ingest_has_the_sqlite_writer_turn_before_the_background_writers_waiting(app_client) -> None:  # type: ignore[no-untyped-def]
    app, client = app_client
    db: Database = app.state.db
    if db.engine.dialect.name != "sqlite":
        pytest.skip("only SQLite has one writer at a time")
    key = f"first-{uuid.uuid4().hex[:8]}"
    await agreement_on(db, key)
    holding, release = asyncio.Event(), asyncio.Event()

    async def holder() -> None:
        async with db.session() as session:
            await session.execute(text("SELECT 1"))
            holding.set()
            await release.wait()

    async def background() -> float:  # an ordinary writer, such as a consumer's transaction
        async with db.session() as session:
            found = await session.scalar(select(func.sum(MinuteBucket.total)).where(MinuteBucket.service == key))
            return float(found or 0)

    held = asyncio.create_task(holder())
    await holding.wait()
    queued = asyncio.create_task(background())
    await _writers_waiting(db, 1)
    posted = asyncio.create_task(client.post("/v1/measurements", json=breaching(key), headers=INGEST))
    await _writers_waiting(db, 2)  # the ingest waits behind the ordinary writer queued first
    release.set()
    response, seen = await posted, await queued
    await held
    assert response.status_code == 202, response.text
    assert seen == 5000  # the ingest, queued last, went first


async def test_a_batch_left_to_the_worker_does_not_read_its_objectives_rows(app_client) -> None:  # type: ignore[no-untyped-def]
    """The flag update returns ids only: a row no one can decode does not fail a batch that evaluates nothing."""
    app, client = app_client
    db: Database = app.state.db
    if db.engine.dialect.name != "sqlite":
        pytest.skip("only SQLite stores JSON text it cannot decode")
    app.state.settings = app.state.settings.model_copy(update={"ingest_evaluation_limit": 0})
    key = f"unread-{uuid.uuid4().hex[:8]}"
    agreement_id = await agreement_on(db, key)
    async with db.session() as session:
        await session.execute(
            text("UPDATE objectives SET observed = 'not json {' WHERE agreement_id = :a"), {"a": agreement_id}
        )

    response = await client.post("/v1/measurements", json=breaching(key), headers=INGEST)
    assert response.status_code == 202, response.text
    assert await _total(db, key) == 5000
    async with db.sessionmaker() as session:
        flagged = await session.scalar(
            text("SELECT needs_evaluation FROM objectives WHERE agreement_id = :a"), {"a": agreement_id}
        )
    assert flagged


def test_the_inline_evaluation_holds_a_deadlock_against_no_objective() -> None:
    """One meaning of a transient failure (`chunk_failures.transient`): a deadlock, a serialization failure or
    a timeout, which asyncpg reports as a plain DBAPIError, lets the next batch try the objective again;
    a failure of its own data is remembered by version."""
    from sqlalchemy.exc import DBAPIError

    class Deadlock(Exception):
        sqlstate = "40P01"

    row_id, version = f"inline-{uuid.uuid4().hex[:8]}", datetime(2026, 11, 30, tzinfo=UTC)
    inline_evaluation._failed_inline(
        row_id, {row_id: version}, DBAPIError("UPDATE objectives", {}, Deadlock("deadlock"))
    )
    assert chunk_failures.failed_version(row_id) is None
    inline_evaluation._failed_inline(row_id, {row_id: version}, ValueError("observed spans this release cannot read"))
    assert chunk_failures._FAILED.pop(row_id) == version
