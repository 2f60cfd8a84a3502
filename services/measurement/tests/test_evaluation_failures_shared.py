"""One memory of failed objectives: a failure with a batch guards the periodic pass at once, and vice versa.

An objective whose evaluation failed on its own data (here a real trigger refuses its outbox row) is
remembered by version in `chunk_failures`, whichever evaluator found it: the periodic pass then
evaluates its chunk guarded at once (no optimistic try that fails first), and a batch does not try it
again in its own transaction until its version changes.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlmodel import col
from test_evaluation_pass_optimistic import TOGETHER_FAILED, savepoints, statements
from test_evaluation_pass_own_terms import _due
from test_evaluation_wake import INGEST, agreement_on, breaching
from test_evaluation_with_ingest import _objective, _quiet, _total, refuse_outbox
from ticket_support import outbox

from slm_measurement import chunk_failures, flagged_pass, service
from slm_measurement.evaluation_pass import evaluate_ids
from slm_measurement.models import Objective
from slm_shared.contracts.registry import EVENTS
from slm_shared.db import Database

BREACHED = EVENTS.objective_breached.type
INLINE_FAILED = "with its batch failed"


@pytest.fixture(autouse=True)
def _forget_failures() -> Iterator[None]:
    chunk_failures._FAILED.clear()
    yield
    chunk_failures._FAILED.clear()


async def test_an_objective_that_failed_with_its_batch_is_evaluated_guarded_at_once_by_the_pass(
    app_client, caplog: pytest.LogCaptureFixture
) -> None:  # type: ignore[no-untyped-def]
    app, client = app_client
    db: Database = app.state.db
    key = f"shared-{uuid.uuid4().hex[:8]}"
    agreement_id = await agreement_on(db, key)
    assert await service.evaluate_due(db, interval=timedelta(hours=1), limit=100) >= 1
    await _quiet(db, key)
    await refuse_outbox(db)
    caplog.set_level(logging.WARNING)

    response = await client.post("/v1/measurements", json=breaching(key), headers=INGEST)
    assert response.status_code == 202, response.text
    found = await _objective(db, agreement_id)
    assert [r.getMessage() for r in caplog.records if INLINE_FAILED in r.getMessage()] == [
        f"evaluating objective {found.id} with its batch failed; the worker evaluates it (logged once per version)"
    ]

    with statements(db) as sent:
        assert await evaluate_ids(db, [found.id], interval=timedelta(0)) == 0
    assert TOGETHER_FAILED not in caplog.text, "no optimistic try of an objective known to fail"
    assert savepoints(sent), "guarded from its first statement"
    assert caplog.text.count(f"evaluation of objective {found.id} failed") == 1
    assert (await _objective(db, agreement_id)).needs_evaluation  # still left for the worker


async def _periodic(db: Database, objective_row_id: str) -> int:
    return await evaluate_ids(db, [objective_row_id], interval=timedelta(0))


async def _flagged(db: Database, objective_row_id: str) -> int:
    return await flagged_pass.evaluate_flagged(db, limit=100)  # a chunk of one: rolled back whole


@pytest.mark.parametrize("evaluate", [_periodic, _flagged], ids=["periodic pass", "flagged pass, a chunk of one"])
async def test_an_objective_that_failed_in_a_pass_is_not_tried_again_with_a_batch(
    app_client, caplog: pytest.LogCaptureFixture, evaluate: Callable[[Database, str], Awaitable[int]]
) -> None:  # type: ignore[no-untyped-def]
    app, client = app_client
    db: Database = app.state.db
    settings = app.state.settings
    key = f"shared-{uuid.uuid4().hex[:8]}"
    agreement_id = await agreement_on(db, key)
    assert await service.evaluate_due(db, interval=timedelta(hours=1), limit=100) >= 1
    app.state.settings = settings.model_copy(update={"ingest_evaluation_limit": 0})  # left to the pass
    response = await client.post("/v1/measurements", json=breaching(key), headers=INGEST)
    assert response.status_code == 202, response.text
    await refuse_outbox(db)
    found = await _objective(db, agreement_id)
    assert await evaluate(db, found.id) == 0  # the breach is refused
    assert chunk_failures.failed_version(found.id) is not None
    app.state.settings = settings
    await _quiet(db, key)
    caplog.set_level(logging.WARNING)

    with statements(db) as sent:
        response = await client.post("/v1/measurements", json=breaching(key), headers=INGEST)
    assert response.status_code == 202, response.text

    assert INLINE_FAILED not in caplog.text and "again, guarded" not in caplog.text, "not tried with the batch"
    assert len([s for s in sent if s.startswith("INSERT INTO MINUTE_BUCKETS")]) == 1  # ingested once
    assert savepoints(sent) == [] and not any(s.startswith("INSERT INTO OUTBOX") for s in sent)
    assert await _total(db, key) == 10000  # both batches stored
    assert (await _objective(db, agreement_id)).needs_evaluation  # left for the worker
    assert await outbox(db, BREACHED, agreement_id=agreement_id) == []


async def _failed_in_a_pass(db: Database, row_id: str) -> None:
    async with db.session() as session:
        await chunk_failures.remember(session, chunk_failures.ChunkFailures(failed={row_id}), [row_id])


async def _failed_with_a_batch(db: Database, row_id: str) -> None:
    async with db.sessionmaker() as session:
        version = (await session.execute(select(Objective.updated_at).where(col(Objective.id) == row_id))).scalar_one()
    chunk_failures.remember_failed(row_id, version)


@pytest.mark.parametrize("failed", [_failed_in_a_pass, _failed_with_a_batch], ids=["in a pass", "with a batch"])
async def test_the_memory_of_failures_keeps_its_bound_and_forgets_the_oldest_whoever_remembers(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch, failed: Callable[[Database, str], Awaitable[None]]
) -> None:
    """One rule for either evaluator: a failure again is remembered as the newest, past the bound the oldest go."""
    monkeypatch.setattr(chunk_failures, "_FAILED_KEPT", 3)
    db = Database(sqlite_url)
    try:
        await _due(db)
        for row_id in ("a-0", "a-1", "a-2", "a-0", "a-3"):
            await failed(db, row_id)
        async with db.sessionmaker() as session:
            versions = dict((await session.execute(select(Objective.id, Objective.updated_at))).all())
        # a-1 went at the bound, the oldest once a-0 failed again; oldest first
        assert list(chunk_failures._FAILED.items()) == [(row_id, versions[row_id]) for row_id in ("a-2", "a-0", "a-3")]
    finally:
        await db.dispose()
