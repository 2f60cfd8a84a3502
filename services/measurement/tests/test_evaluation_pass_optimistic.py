"""A periodic pass writes a chunk without savepoints; one that fails is evaluated again, failures isolated."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from sqlalchemy import event, select, text
from test_evaluation_pass_own_terms import TERMS, _due

from slm_measurement.models import Objective
from slm_measurement.service import evaluate_due
from slm_shared.bus import OutboxMessage
from slm_shared.db import Database

OBJECTIVES = len(TERMS) * 2
BAD = "a-3"


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


async def test_a_chunk_that_succeeds_is_written_without_a_savepoint(database_url: str) -> None:
    db = Database(database_url)
    try:
        await _due(db)
        with statements(db) as sent:
            assert await evaluate_due(db, interval=timedelta(0), limit=100, chunk=OBJECTIVES) == OBJECTIVES
        assert savepoints(sent) == []
        # The batched objectives' outcomes in one UPDATE, their transition rows and events in one INSERT each.
        assert [s.split(" SET ")[0] for s in sent if s.startswith("UPDATE OBJECTIVES SET STATUS")] == [
            "UPDATE OBJECTIVES"
        ]
        assert len([s for s in sent if s.startswith("INSERT INTO OUTBOX")]) == 1
    finally:
        await db.dispose()


async def _refuse_one_update(db: Database) -> None:
    """A real trigger: the database refuses to store the outcome of objective `BAD` alone."""
    async with db.session() as session:
        if db.engine.dialect.name == "postgresql":
            await session.execute(
                text(
                    "CREATE FUNCTION refuse_one() RETURNS trigger LANGUAGE plpgsql AS"
                    f" $$ BEGIN IF NEW.id = '{BAD}' THEN RAISE EXCEPTION 'refused'; END IF; RETURN NEW; END $$"
                )
            )
            await session.execute(
                text("CREATE TRIGGER refuse_one BEFORE UPDATE ON objectives FOR EACH ROW EXECUTE FUNCTION refuse_one()")
            )
        else:
            await session.execute(
                text(
                    f"CREATE TRIGGER refuse_one BEFORE UPDATE ON objectives WHEN NEW.id = '{BAD}'"
                    " BEGIN SELECT RAISE(ABORT, 'refused'); END"
                )
            )


async def test_a_bad_objective_is_still_skipped_alone_and_its_siblings_events_recorded_once(
    database_url: str,
) -> None:
    db = Database(database_url)
    try:
        await _due(db)
        await _refuse_one_update(db)
        with statements(db) as sent:
            assert await evaluate_due(db, interval=timedelta(0), limit=100, chunk=OBJECTIVES) == OBJECTIVES - 1
        assert savepoints(sent), "the chunk was evaluated again with its failures isolated"
        async with db.sessionmaker() as session:
            flagged = dict((await session.execute(select(Objective.id, Objective.needs_evaluation))).all())
            told = (await session.execute(select(OutboxMessage.type, OutboxMessage.body))).all()
        assert flagged.pop(BAD) is True  # left for the next pass
        assert set(flagged.values()) == {False}
        about = Counter((kind, json.loads(body)["agreement_id"]) for kind, body in told)
        assert about, "the siblings' transitions were told"
        # Each sibling told what its twin (same terms, `b-`) told: nothing lost, nothing twice from the
        # try rolled back; the bad one told nothing.
        twin = BAD.replace("a-", "b-")
        assert {(k, a[2:]) for k, a in about.elements() if a.startswith("a-")} == {
            (k, a[2:]) for k, a in about.elements() if a.startswith("b-") and a != twin
        }
        assert Counter(a[:2] for _, a in about.elements()) == {
            "a-": sum(n for (_, a), n in about.items() if a.startswith("b-") and a != twin),
            "b-": sum(n for (_, a), n in about.items() if a.startswith("b-")),
        }
    finally:
        await db.dispose()
