"""A periodic pass writes a chunk without savepoints; one that fails is evaluated again, failures isolated.

What the pass stores is compared with a reference: the same objectives evaluated in another database
with nothing refused. Each event and transition of every objective but the refused one is there
exactly once (none lost, none doubled by the optimistic try rolled back), and the refused one is
left flagged. A transient failure is raised for the worker's backoff, never taken for a bad
objective; an objective that failed before makes its chunk guarded at once on later passes.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, select, text, update
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlmodel import col
from test_evaluation_pass_own_terms import TERMS, _due

from slm_measurement import chunk_failures, evaluation_pass
from slm_measurement.models import Objective, ObjectiveTransition
from slm_measurement.service import evaluate_due
from slm_shared.bus import OutboxMessage
from slm_shared.db import Database, utcnow
from slm_shared.testing.postgres import PostgresServer

OBJECTIVES = len(TERMS) * 2
BAD = "a-3"
TOGETHER_FAILED = "objectives together failed"


@pytest.fixture(autouse=True)
def _forget_failures() -> Iterator[None]:
    chunk_failures._FAILED.clear()
    yield
    chunk_failures._FAILED.clear()


@contextmanager
def statements(db: Database) -> Iterator[list[str]]:
    """Every statement the engine sends while inside, upper-cased."""
    sent: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        sent.append(statement.strip().upper())

    event.listen(db.engine.sync_engine, "before_cursor_execute", seen)
    try:
        yield sent
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", seen)


def savepoints(sent: list[str]) -> list[str]:
    return [s for s in sent if s.startswith(("SAVEPOINT", "RELEASE", "ROLLBACK TO"))]


Outcomes = tuple[Counter[tuple[Any, ...]], Counter[tuple[Any, ...]], dict[str, bool]]


async def _outcomes(db: Database) -> Outcomes:
    """Events and transitions per objective (what does not depend on the moment), and which stay flagged."""
    async with db.sessionmaker() as session:
        told = (await session.execute(select(OutboxMessage.event_id, OutboxMessage.type, OutboxMessage.body))).all()
        moved = (
            await session.execute(
                select(
                    ObjectiveTransition.objective_row_id,
                    ObjectiveTransition.from_status,
                    ObjectiveTransition.to_status,
                    ObjectiveTransition.event,
                )
            )
        ).all()
        flagged = dict((await session.execute(select(Objective.id, Objective.needs_evaluation))).all())
    assert len({event_id for event_id, _, _ in told}) == len(told)
    events: Counter[tuple[Any, ...]] = Counter()
    for _, kind, body in told:
        data = json.loads(body)
        lasting = sorted(
            (k, v) for k, v in data.items() if isinstance(v, str) and not k.endswith(("_at", "_start", "_end"))
        )
        events[(kind, data["agreement_id"], *lasting)] += 1
    return events, Counter(tuple(row) for row in moved), flagged


def _without(outcomes: Outcomes, row_id: str) -> Outcomes:
    events, moved, flagged = outcomes
    return (
        Counter({key: n for key, n in events.items() if key[1] != row_id}),
        Counter({key: n for key, n in moved.items() if key[0] != row_id}),
        flagged | {row_id: True},
    )


@pytest.fixture
def reference_url(database_url: str, request: pytest.FixtureRequest) -> str:
    """Another empty database of the same kind, for the reference run."""
    if database_url.startswith("sqlite"):
        return database_url.replace("test.db", "reference.db")
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.create_database(f"reference_{abs(hash(request.node.nodeid)) % 10**8}")


async def _reference(url: str, interval: timedelta = timedelta(0)) -> Outcomes:
    """The outcomes of a pass over the same objectives with nothing refused."""
    db = Database(url)
    try:
        await _due(db)
        assert await evaluate_due(db, interval=interval, limit=100, chunk=OBJECTIVES) == OBJECTIVES
        outcomes = await _outcomes(db)
    finally:
        await db.dispose()
    assert outcomes[0] and outcomes[1], "the reference pass records events and transitions"
    assert set(outcomes[2].values()) == {False}
    return outcomes


async def test_a_chunk_that_succeeds_is_written_without_a_savepoint(database_url: str) -> None:
    db = Database(database_url)
    try:
        await _due(db)
        with statements(db) as sent:
            assert await evaluate_due(db, interval=timedelta(0), limit=100, chunk=OBJECTIVES) == OBJECTIVES
        assert savepoints(sent) == []
        # The batched objectives' outcomes in one UPDATE, their transition rows and events in one INSERT each (on
        # PostgreSQL the transition rows' INSERT is the UPDATE's `WITH`).
        [written] = [s for s in sent if "UPDATE OBJECTIVES SET STATUS" in s]
        moved = [s for s in sent if "INSERT INTO OBJECTIVE_TRANSITIONS" in s]
        if db.engine.dialect.name == "postgresql":
            assert moved == [written]
        else:
            assert len(moved) == 1 and moved != [written]
        assert len([s for s in sent if s.startswith("INSERT INTO OUTBOX")]) == 1
    finally:
        await db.dispose()


async def _refuse(db: Database, *, deferred: bool = False, errcode: str | None = None) -> None:
    """A real trigger: the database refuses to store the outcome of objective `BAD` alone.

    `deferred` (PostgreSQL): a constraint trigger that fires at COMMIT, after the chunk's events are
    recorded. `errcode` (PostgreSQL): the SQLSTATE it raises, e.g. a serialization failure's.
    """
    async with db.session() as session:
        if db.engine.dialect.name == "postgresql":
            using = f" USING ERRCODE = '{errcode}'" if errcode else ""
            await session.execute(
                text(
                    "CREATE FUNCTION refuse_one() RETURNS trigger LANGUAGE plpgsql AS"
                    f" $$ BEGIN IF NEW.id = '{BAD}' THEN RAISE EXCEPTION 'refused'{using}; END IF; RETURN NEW; END $$"
                )
            )
            when = (
                "CONSTRAINT TRIGGER refuse_one AFTER UPDATE ON objectives DEFERRABLE INITIALLY DEFERRED"
                if deferred
                else "TRIGGER refuse_one BEFORE UPDATE ON objectives"
            )
            await session.execute(text(f"CREATE {when} FOR EACH ROW EXECUTE FUNCTION refuse_one()"))
        else:
            assert not deferred and errcode is None
            await session.execute(
                text(
                    f"CREATE TRIGGER refuse_one BEFORE UPDATE ON objectives WHEN NEW.id = '{BAD}'"
                    " BEGIN SELECT RAISE(ABORT, 'refused'); END"
                )
            )


async def _unrefuse(db: Database) -> None:
    async with db.session() as session:
        if db.engine.dialect.name == "postgresql":
            await session.execute(text("DROP TRIGGER refuse_one ON objectives"))
            await session.execute(text("DROP FUNCTION refuse_one()"))
        else:
            await session.execute(text("DROP TRIGGER refuse_one"))


@asynccontextmanager
async def refusing(url: str, *, deferred: bool = False, errcode: str | None = None) -> AsyncIterator[Database]:
    """Every objective due and the outcome of `BAD` alone refused (`_refuse`); the database disposed of after."""
    db = Database(url)
    try:
        await _due(db)
        await _refuse(db, deferred=deferred, errcode=errcode)
        yield db
    finally:
        await db.dispose()


@asynccontextmanager
async def refusing_against_reference(
    database_url: str, reference_url: str, *, deferred: bool
) -> AsyncIterator[tuple[Database, Outcomes]]:
    """`refusing` at the update or (`deferred`, PostgreSQL's) at commit, and the reference's outcomes but `BAD`'s."""
    if deferred and not database_url.startswith("postgresql"):
        pytest.skip("deferred constraint triggers are PostgreSQL's")
    expected = _without(await _reference(reference_url), BAD)
    async with refusing(database_url, deferred=deferred) as db:
        yield db, expected


@pytest.mark.parametrize("deferred", [False, True], ids=["at-the-update", "at-commit"])
async def test_a_bad_objective_is_skipped_alone_and_every_other_event_recorded_exactly_once(
    database_url: str, reference_url: str, deferred: bool
) -> None:
    async with refusing_against_reference(database_url, reference_url, deferred=deferred) as (db, expected):
        with statements(db) as sent:
            assert await evaluate_due(db, interval=timedelta(0), limit=100, chunk=OBJECTIVES) == OBJECTIVES - 1
        assert savepoints(sent), "the chunk was evaluated again with its failures isolated"
        assert await _outcomes(db) == expected


@pytest.mark.parametrize("errcode", ["40001", "40P01", "57014", "55P03"])
async def test_a_transient_failure_is_raised_for_the_worker_not_isolated_as_a_bad_objective(
    postgres_url: str, errcode: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with refusing(postgres_url, errcode=errcode) as db:
        with statements(db) as sent, pytest.raises(DBAPIError) as raised:
            await evaluate_due(db, interval=timedelta(0), limit=100, chunk=OBJECTIVES)
        assert getattr(raised.value.orig, "sqlstate", None) == errcode
        assert savepoints(sent) == [], "not evaluated again, guarded"
        assert TOGETHER_FAILED not in caplog.text
        assert chunk_failures._FAILED == {}, "no objective taken for a bad one"
        events, moved, flagged = await _outcomes(db)
        assert (events, moved, set(flagged.values())) == (Counter(), Counter(), {True})  # all left for the next pass

        # Once BAD is known to fail on its data, its chunk is guarded at once; a transient failure
        # there is still raised rather than taken for BAD's own.
        await _unrefuse(db)
        await _refuse(db)
        assert await evaluate_due(db, interval=timedelta(0), limit=100, chunk=OBJECTIVES) == OBJECTIVES - 1
        assert BAD in chunk_failures._FAILED
        await _unrefuse(db)
        await _refuse(db, errcode=errcode)
        with pytest.raises(DBAPIError):
            await evaluate_due(db, interval=timedelta(0), limit=100, chunk=OBJECTIVES)
        assert BAD in chunk_failures._FAILED


async def test_a_stuck_objective_is_guarded_at_once_on_later_passes_and_its_failures_logged_once(
    database_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    unplanned = "a-5"  # a code error in its plan: logged and skipped on either try
    real_plan = evaluation_pass.plan

    def plan(objective: Any, **kwargs: Any) -> Any:
        if objective.id == unplanned:
            raise ValueError("no plan")
        return real_plan(objective, **kwargs)

    monkeypatch.setattr(evaluation_pass, "plan", plan)
    caplog.set_level(logging.WARNING, logger="slm_measurement.evaluation_pass")
    async with refusing(database_url) as db:
        assert await evaluate_due(db, interval=timedelta(0), limit=100, chunk=OBJECTIVES) == OBJECTIVES - 2
        assert caplog.text.count(TOGETHER_FAILED) == 1
        assert caplog.text.count(f"evaluation of objective {unplanned} failed") == 1
        assert caplog.text.count(f"evaluation of objective {BAD} failed") == 1
        caplog.clear()

        with statements(db) as sent:
            assert await evaluate_due(db, interval=timedelta(0), limit=100, chunk=OBJECTIVES) == OBJECTIVES - 2
        assert TOGETHER_FAILED not in caplog.text, "no optimistic try of a chunk known to fail"
        first_write = next(n for n, s in enumerate(sent) if s.startswith("UPDATE OBJECTIVES"))
        assert savepoints(sent[:first_write]), "its first write already in a savepoint"
        async with db.sessionmaker() as session:
            flagged = dict((await session.execute(select(Objective.id, Objective.needs_evaluation))).all())
        assert {row_id for row_id, due in flagged.items() if due} == {BAD, unplanned}

        # Once their rows change (a new version), their chunk is tried optimistically again.
        caplog.clear()
        await _unrefuse(db)
        async with db.session() as session:
            await session.execute(
                update(Objective).where(col(Objective.id).in_([BAD, unplanned])).values(updated_at=utcnow())
            )
        await _refuse(db)
        monkeypatch.setattr(evaluation_pass, "plan", real_plan)
        await evaluate_due(db, interval=timedelta(0), limit=100, chunk=OBJECTIVES)
        assert caplog.text.count(TOGETHER_FAILED) == 1


async def test_two_replicas_evaluating_at_once_store_each_sibling_and_its_events_once(
    postgres_url: str, postgres_server: PostgresServer, request: pytest.FixtureRequest
) -> None:
    reference = postgres_server.create_database(f"replicas_ref_{abs(hash(request.node.nodeid)) % 10**8}")
    interval = timedelta(hours=1)  # only the flagged are due: one stored is no longer due for the other
    expected = _without(await _reference(reference, interval), BAD)
    first, second = Database(postgres_url), Database(postgres_url)
    try:
        await _due(first)
        await _refuse(first)
        stored = await asyncio.gather(
            *(evaluate_due(db, interval=interval, limit=100, chunk=10) for db in (first, second))
        )
        assert sum(stored) == OBJECTIVES - 1
        assert await _outcomes(first) == expected
    finally:
        await first.dispose()
        await second.dispose()


async def test_sqlite_busy_is_raised_for_the_worker_not_tried_again_guarded(
    sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    db = Database(sqlite_url)
    try:
        await _due(db)

        @event.listens_for(db.engine.sync_engine, "connect")
        def impatient(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.execute("PRAGMA busy_timeout=200")  # after the engine's own 30 s

        await db.engine.dispose()  # new connections get it
        other = sqlite3.connect(sqlite_url.removeprefix("sqlite+aiosqlite:///"), isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")  # another process holds SQLite's write lock
            with pytest.raises(OperationalError, match="database is locked"):
                await evaluate_due(db, interval=timedelta(0), limit=100, chunk=OBJECTIVES)
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert TOGETHER_FAILED not in caplog.text, "not tried again, guarded, while the lock is held"
        assert chunk_failures._FAILED == {}
        assert await evaluate_due(db, interval=timedelta(0), limit=100, chunk=OBJECTIVES) == OBJECTIVES
    finally:
        await db.dispose()
