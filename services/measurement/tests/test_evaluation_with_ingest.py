"""A batch that flags few objectives has them evaluated in its own transaction: its breach commits with it."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text, update
from sqlmodel import col
from test_evaluation_wake import INGEST, agreement_on, breaching
from ticket_support import outbox

from slm_measurement import service
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

    response = await client.post("/v1/measurements", json=breaching(key), headers=INGEST)
    assert response.status_code == 202, response.text

    [event] = await outbox(db, BREACHED, agreement_id=agreement_id)
    assert event["service_key"] == key
    found = await _objective(db, agreement_id)
    assert (found.status, found.needs_evaluation, found.total) == ("breached", False, 5000)
    assert await _transitions_to(db, found.id, "breached") == 1
    assert await service.evaluate_flagged(db, limit=100) == 0  # nothing left for the worker


async def test_a_batch_flagging_more_objectives_than_the_limit_leaves_them_to_the_worker(app_client) -> None:  # type: ignore[no-untyped-def]
    app, client = app_client
    db: Database = app.state.db
    app.state.settings = app.state.settings.model_copy(update={"ingest_evaluation_limit": 1})
    key = f"over-{uuid.uuid4().hex[:8]}"
    agreements = [await agreement_on(db, key) for _ in range(2)]  # two objectives on one series
    assert await service.evaluate_due(db, interval=timedelta(hours=1), limit=100) >= 2

    response = await client.post("/v1/measurements", json=breaching(key), headers=INGEST)
    assert response.status_code == 202, response.text

    assert [await outbox(db, BREACHED, agreement_id=a) for a in agreements] == [[], []]
    assert [(await _objective(db, a)).needs_evaluation for a in agreements] == [True, True]
    assert await service.evaluate_flagged(db, limit=100) == 2
    assert [len(await outbox(db, BREACHED, agreement_id=a)) for a in agreements] == [1, 1]


async def test_an_evaluation_failing_with_its_batch_keeps_the_batch_and_leaves_the_objective_flagged(
    app_client,
) -> None:  # type: ignore[no-untyped-def]
    app, client = app_client
    db: Database = app.state.db
    key = f"poison-{uuid.uuid4().hex[:8]}"
    agreement_id = await agreement_on(db, key)
    assert await service.evaluate_due(db, interval=timedelta(hours=1), limit=100) >= 1
    async with db.session() as session:  # observed spans this release cannot read: its evaluation fails
        await session.execute(
            update(Objective)
            .where(col(Objective.agreement_id) == agreement_id)
            .values(observed=[{"start": "not an instant", "end": "never"}])
        )

    response = await client.post("/v1/measurements", json=breaching(key), headers=INGEST)
    assert response.status_code == 202, response.text  # acknowledged: stored

    assert await _total(db, key) == 5000
    found = await _objective(db, agreement_id)
    assert (found.status, found.needs_evaluation) == ("no_data", True)  # left for the worker
    assert await outbox(db, BREACHED, agreement_id=agreement_id) == []
    assert await _transitions_to(db, found.id, "breached") == 0


async def test_concurrent_breaching_batches_on_one_series_record_one_breach_and_count_both(app_client) -> None:  # type: ignore[no-untyped-def]
    """On PostgreSQL the batches run at once: each evaluation holds the objective its batch flagged."""
    app, client = app_client
    db: Database = app.state.db
    key = f"together-{uuid.uuid4().hex[:8]}"
    agreement_id = await agreement_on(db, key)
    assert await service.evaluate_due(db, interval=timedelta(hours=1), limit=100) >= 1

    responses = await asyncio.gather(
        *(client.post("/v1/measurements", json=breaching(key), headers=INGEST) for _ in range(4))
    )
    assert [r.status_code for r in responses] == [202] * 4, [r.text for r in responses]

    found = await _objective(db, agreement_id)
    assert (found.status, found.needs_evaluation, found.total) == ("breached", False, 20000)  # the last saw all four
    assert await _transitions_to(db, found.id, "breached") == 1
    assert len(await outbox(db, BREACHED, agreement_id=agreement_id)) == 1
    assert await service.evaluate_flagged(db, limit=100) == 0


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
