"""The worker's flagged pass writes a chunk without savepoints; one that fails is evaluated again, failures isolated.

The same objectives and the same refusing trigger as the periodic pass's tests
(`test_evaluation_pass_optimistic`): what the flagged pass stores is compared with a reference pass
over the same objectives with nothing refused, each event and transition of every objective but the
refused one exactly once, the refused one left flagged.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter

import pytest
from sqlalchemy import update
from sqlalchemy.exc import DBAPIError
from sqlmodel import col
from test_evaluation_pass_optimistic import (
    BAD,
    OBJECTIVES,
    TOGETHER_FAILED,
    _forget_failures,
    _outcomes,
    _reference,
    _refuse,
    _without,
    reference_url,
    refusing,
    refusing_against_reference,
    savepoints,
    statements,
)
from test_evaluation_pass_own_terms import _due

from slm_measurement import chunk_failures
from slm_measurement.flagged_pass import evaluate_flagged
from slm_measurement.models import Objective
from slm_shared.db import Database
from slm_shared.testing.postgres import PostgresServer

__all__ = ["_forget_failures", "reference_url"]  # fixtures these tests use


async def test_a_flagged_chunk_that_succeeds_is_written_without_a_savepoint(database_url: str) -> None:
    db = Database(database_url)
    try:
        await _due(db)  # never evaluated: what the flagged pass chooses
        with statements(db) as sent:
            assert await evaluate_flagged(db, limit=100, chunk=OBJECTIVES) == OBJECTIVES
        assert savepoints(sent) == []
        assert len([s for s in sent if "UPDATE OBJECTIVES SET STATUS" in s]) == 1  # on PostgreSQL after a `WITH`
        assert len([s for s in sent if s.startswith("INSERT INTO OUTBOX")]) == 1
        assert set((await _outcomes(db))[2].values()) == {False}
    finally:
        await db.dispose()


@pytest.mark.parametrize("deferred", [False, True], ids=["at-the-update", "at-commit"])
async def test_a_bad_objective_in_a_flagged_chunk_is_skipped_alone_and_every_other_event_recorded_once(
    database_url: str, reference_url: str, deferred: bool, caplog: pytest.LogCaptureFixture
) -> None:
    async with refusing_against_reference(database_url, reference_url, deferred=deferred) as (db, expected):
        with statements(db) as sent:
            assert await evaluate_flagged(db, limit=100, chunk=OBJECTIVES) == OBJECTIVES - 1
        assert caplog.text.count(TOGETHER_FAILED) == 1
        assert savepoints(sent), "the chunk was evaluated again with its failures isolated"
        assert await _outcomes(db) == expected
        assert BAD in chunk_failures._FAILED

        # Flagged again with its siblings, BAD's chunk is guarded at once: no optimistic try known to fail.
        caplog.clear()
        async with db.session() as session:
            await session.execute(update(Objective).where(col(Objective.id) != BAD).values(needs_evaluation=True))
        with statements(db) as sent:
            assert await evaluate_flagged(db, limit=100, chunk=OBJECTIVES) == OBJECTIVES - 1
        assert TOGETHER_FAILED not in caplog.text
        first_write = next(n for n, s in enumerate(sent) if s.startswith("UPDATE OBJECTIVES"))
        assert savepoints(sent[:first_write]), "its first write already in a savepoint"


async def test_a_transient_failure_in_a_flagged_chunk_is_raised_not_isolated(
    postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with refusing(postgres_url, errcode="40001") as db:  # a serialization failure
        with statements(db) as sent, pytest.raises(DBAPIError) as raised:
            await evaluate_flagged(db, limit=100, chunk=OBJECTIVES)
        assert getattr(raised.value.orig, "sqlstate", None) == "40001"
        assert savepoints(sent) == [], "not evaluated again, guarded"
        assert TOGETHER_FAILED not in caplog.text
        assert chunk_failures._FAILED == {}
        events, moved, flagged = await _outcomes(db)
        assert (events, moved, set(flagged.values())) == (Counter(), Counter(), {True})


async def test_a_flagged_chunk_of_one_that_fails_is_logged_and_left_flagged(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="slm_measurement.evaluation_pass")
    async with refusing(database_url) as db:
        assert await evaluate_flagged(db, limit=100, chunk=1) == OBJECTIVES - 1
        assert caplog.text.count(f"evaluation of objective {BAD} failed") == 1
        assert TOGETHER_FAILED not in caplog.text
        assert {row_id for row_id, due in (await _outcomes(db))[2].items() if due} == {BAD}
        assert BAD in chunk_failures._FAILED  # a batch does not try it again until its version changes


async def test_a_transient_failure_of_a_flagged_chunk_of_one_is_raised_for_the_worker(
    postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The usual chunk after a breaching ingest: a serialization failure is the database's moment, raised."""
    caplog.set_level(logging.ERROR, logger="slm_measurement.evaluation_pass")
    async with refusing(postgres_url, errcode="40001") as db:  # a serialization failure on BAD's row
        with pytest.raises(DBAPIError) as raised:
            await evaluate_flagged(db, limit=100, chunk=1)
        assert getattr(raised.value.orig, "sqlstate", None) == "40001"
        assert f"evaluation of objective {BAD} failed" not in caplog.text  # not logged as BAD's own failure
        assert chunk_failures._FAILED == {}
        assert (await _outcomes(db))[2][BAD] is True  # still flagged


@pytest.mark.parametrize("chunk", [3, 7])
async def test_two_flagged_workers_at_once_with_a_failing_chunk_record_each_event_once(
    postgres_url: str, postgres_server: PostgresServer, request: pytest.FixtureRequest, chunk: int
) -> None:
    reference = postgres_server.create_database(f"flagged_ref_{abs(hash(request.node.nodeid)) % 10**8}")
    expected = _without(await _reference(reference), BAD)
    first, second = Database(postgres_url), Database(postgres_url)  # two replicas: each its own engine and pool
    try:
        await _due(first)
        await _refuse(first)
        done = await asyncio.gather(*(evaluate_flagged(db, limit=100, chunk=chunk) for db in (first, second)))
        assert sum(done) == OBJECTIVES - 1, done
        assert await _outcomes(first) == expected
    finally:
        await first.dispose()
        await second.dispose()
