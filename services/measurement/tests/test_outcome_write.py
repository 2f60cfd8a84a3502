"""An evaluation's outcomes and their transition rows: on PostgreSQL written by one statement, stored as the
transition rows' own INSERT stores them (on SQLite that INSERT follows the outcomes' UPDATE)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import event, insert, select

from slm_measurement.bulk_update import update_outcomes
from slm_measurement.models import Objective, ObjectiveTransition, new_id
from slm_shared.db import Database

TRANSITIONS = ObjectiveTransition.__table__  # type: ignore[attr-defined]
EVALUATED = datetime(2026, 3, 29, 1, 59, 59, 999_999, tzinfo=timezone(timedelta(hours=2)))  # stored as UTC


@contextmanager
def _statements(db: Database) -> Iterator[list[str]]:
    sent: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        sent.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", seen)
    try:
        yield sent
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", seen)


def _objective(n: int) -> Objective:
    return Objective(
        tenant="acme",
        agreement_id=f"agreement-{n}",
        agreement_version=1,
        agreement_kind="SLA",
        objective_id="o",
        service_key="api",
        indicator="availability",
        target=0.999,
        window_kind="rolling",
        window_duration="30d",
    )


def _outcome(row_id: str, status: str) -> dict[str, Any]:
    return {
        "row_id": row_id,
        "good": 0.1 + 0.2,
        "total": 3.0,
        "attainment": 0.1,
        "window_start": EVALUATED - timedelta(days=30),
        "window_end": EVALUATED,
        "status": status,
        "last_event": "breached" if status == "breached" else None,
        "details": {"budget_target": 0.999},
        "firing_alerts": ["page"] if status == "breached" else [],
        "needs_evaluation": False,
        "evaluated_at": EVALUATED,
    }


def _moved(row_id: str, **columns: Any) -> dict[str, Any]:
    return {
        "id": new_id(),
        "tenant": "acme",
        "objective_row_id": row_id,
        "at": EVALUATED,
        "from_status": "no_data",
        "to_status": "breached",
        "event": "breached",
        "attainment": 0.1 + 0.2,
        "expected_attainment": None,
        **columns,
    }


async def _stored(db: Database, ids: list[str]) -> dict[str, tuple[Any, ...]]:
    async with db.sessionmaker() as session:
        rows = await session.execute(select(TRANSITIONS).where(TRANSITIONS.c.id.in_(ids)))
        return {row.id: tuple(row)[1:] for row in rows}


async def test_outcomes_and_their_transition_rows_are_stored_as_their_own_statements_store_them(db: Database) -> None:
    objectives = [_objective(n) for n in range(3)]
    async with db.session() as session:
        session.add_all(objectives)
    one, two, three = (o.id for o in objectives)
    alone = _moved(one)  # a breaching ingest's: one outcome, one transition
    together = [_moved(two, event=None, to_status="at_risk", expected_attainment=0.5, attainment=None)]
    reference = [{**_moved(one), "id": new_id()}, {**together[0], "id": new_id()}]

    async with db.session() as session:
        with _statements(db) as sent:
            await update_outcomes(session, [_outcome(one, "breached")], [alone])
            await update_outcomes(session, [_outcome(two, "at_risk"), _outcome(three, "met")], together)
            await update_outcomes(session, [_outcome(three, "met")], [])
        await session.execute(insert(TRANSITIONS), reference)  # as the rows were inserted apart before

    postgres = db.engine.dialect.name == "postgresql"
    writes = [s for s in sent if s.lstrip().upper().startswith(("UPDATE", "INSERT", "WITH"))]
    assert len(writes) == (3 if postgres else 5), sent  # on PostgreSQL each outcome write inserts its transitions
    stored = await _stored(db, [alone["id"], together[0]["id"], *(r["id"] for r in reference)])
    assert stored[alone["id"]] == stored[reference[0]["id"]]
    assert stored[together[0]["id"]] == stored[reference[1]["id"]]
    assert stored[alone["id"]][2] == EVALUATED and stored[alone["id"]][2].tzinfo == UTC
    assert stored[together[0]["id"]][5:] == (None, None, 0.5)
    async with db.sessionmaker() as session:
        found = {o.id: o for o in (await session.execute(select(Objective))).scalars()}
    assert [found[i].status for i in (one, two, three)] == ["breached", "at_risk", "met"]
    assert found[one].evaluated_at == EVALUATED and found[one].good == 0.1 + 0.2
    assert found[one].firing_alerts == ["page"] and found[one].details == {"budget_target": 0.999}


async def test_a_transition_row_leaving_out_a_column_is_stored_as_its_insert_stores_it(db: Database) -> None:
    """A column with a default left out takes it (`id` a new one, the nullable ones NULL) on either database, as
    the transition rows' own INSERT does; one with neither fails naming it, before anything is written."""
    objectives = [_objective(n) for n in range(2)]
    async with db.session() as session:
        session.add_all(objectives)
    one, two = (o.id for o in objectives)
    moved = _moved(one)
    for name in ("id", "event", "attainment", "expected_attainment"):
        del moved[name]

    async with db.session() as session:
        await update_outcomes(session, [_outcome(one, "breached"), _outcome(two, "met")], [moved])
    async with db.sessionmaker() as session:
        [(row_id, stored)] = [
            (row.id, tuple(row)[1:])
            for row in await session.execute(select(TRANSITIONS).where(TRANSITIONS.c.objective_row_id == one))
        ]
    assert len(row_id) == 36
    assert stored == ("acme", one, EVALUATED, "no_data", "breached", None, None, None)

    unnamed = _moved(two)
    del unnamed["tenant"]
    async with db.session() as session:
        with pytest.raises(ValueError, match="'tenant'"), _statements(db) as sent:
            await update_outcomes(session, [_outcome(two, "breached")], [unnamed])
        assert [s for s in sent if s.lstrip().upper().startswith(("UPDATE", "INSERT", "WITH"))] == []


async def test_one_objective_and_its_transition_row_are_written_by_its_id_in_one_statement(db: Database) -> None:
    """A breaching ingest's one outcome: on PostgreSQL the UPDATE by its id with the transition row's INSERT in a
    `WITH` (no statement over arrays, which takes about twice as long to plan and run for one row), stored as
    the rows' own statements store them, a column left out taking its default; on SQLite the two statements."""
    objectives = [_objective(n) for n in range(2)]
    async with db.session() as session:
        session.add_all(objectives)
    one, other = (o.id for o in objectives)
    moved = _moved(one)
    del moved["id"], moved["expected_attainment"]
    reference = _moved(other)

    async with db.session() as session:
        with _statements(db) as sent:
            await update_outcomes(session, [_outcome(one, "breached")], [moved])
        await session.execute(insert(TRANSITIONS), [reference])

    writes = [" ".join(s.split()).upper() for s in sent if s.lstrip().upper().startswith(("UPDATE", "INSERT", "WITH"))]
    if db.engine.dialect.name == "postgresql":
        [write] = writes
        assert write.startswith("WITH MOVED AS (INSERT INTO OBJECTIVE_TRANSITIONS") and "UNNEST" not in write, write
        assert write.endswith("WHERE OBJECTIVES.ID = $12::VARCHAR"), write
    else:
        assert [w.split(" ")[0] for w in writes] == ["UPDATE", "INSERT"], writes
    async with db.sessionmaker() as session:
        rows = await session.execute(select(TRANSITIONS).where(TRANSITIONS.c.objective_row_id.in_([one, other])))
        stored = {row.objective_row_id: tuple(row) for row in rows}
        found = {o.id: o for o in (await session.execute(select(Objective))).scalars()}
    assert len(stored[one][0]) == 36  # a new id, as the INSERT gives one
    assert stored[one][2:] == (one, *stored[other][3:])  # the same columns as the reference's own INSERT stored
    assert found[one].status == "breached" and found[one].evaluated_at == EVALUATED
    assert found[one].firing_alerts == ["page"] and found[one].details == {"budget_target": 0.999}
    assert found[other].status == "no_data"  # the UPDATE by id touched its own row alone
