"""An evaluation's outcomes and their transition rows: on PostgreSQL written by one statement, stored as the
transition rows' own INSERT stores them (on SQLite that INSERT follows the outcomes' UPDATE), for the objectives
the UPDATE wrote alone."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import bindparam, event, insert, select, text, update

from slm_measurement.bulk_update import OBJECTIVES, WRITTEN, update_outcomes
from slm_measurement.models import Objective, ObjectiveTransition, new_id
from slm_shared.db import Database

TRANSITIONS = ObjectiveTransition.__table__  # type: ignore[attr-defined]
EVALUATED = datetime(2026, 3, 29, 1, 59, 59, 999_999, tzinfo=timezone(timedelta(hours=2)))  # stored as UTC


@contextmanager
def _statements(db: Database) -> Iterator[list[tuple[str, Any]]]:
    """The statements sent to the driver, each with its parameters."""
    sent: list[tuple[str, Any]] = []

    def seen(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        sent.append((statement, parameters))

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
    writes = [s for s, _ in sent if s.lstrip().upper().startswith(("UPDATE", "INSERT", "WITH"))]
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
        assert [s for s, _ in sent if s.lstrip().upper().startswith(("UPDATE", "INSERT", "WITH"))] == []


async def _raw(
    db: Database, table: Any, columns: tuple[str, ...], where: str, ids: list[str]
) -> dict[str, tuple[Any, ...]]:
    """The columns as the database stores them (no type of SQLAlchemy's converting them back), by `where`'s id."""
    async with db.sessionmaker() as session:
        rows = await session.execute(
            text(f"SELECT {where}, {', '.join(columns)} FROM {table.name} WHERE {where} IN :ids").bindparams(
                bindparam("ids", expanding=True)
            ),
            {"ids": ids},
        )
        return {row[0]: tuple(row[1:]) for row in rows}


async def test_one_objective_and_its_transition_row_are_written_by_its_id_in_one_statement(db: Database) -> None:
    """A breaching ingest's one outcome: on PostgreSQL one statement, the UPDATE by its id with the transition row's
    INSERT (no statement over arrays); on SQLite the two statements. Either way stored, column by column as the
    database holds it, as the rows' own statements store them, a column left out taking its default."""
    objectives = [_objective(n) for n in range(3)]
    async with db.session() as session:
        session.add_all(objectives)
    one, other, alike = (o.id for o in objectives)
    moved = _moved(one)
    del moved["id"], moved["expected_attainment"]
    reference = _moved(other)
    outcome = {name: value for name, value in _outcome(alike, "breached").items() if name != "row_id"}

    async with db.session() as session:
        with _statements(db) as sent:
            await update_outcomes(session, [_outcome(one, "breached")], [moved])
        await session.execute(insert(TRANSITIONS), [reference])
        await session.execute(update(OBJECTIVES).where(OBJECTIVES.c.id == alike).values(outcome))

    writes = [(s, p) for s, p in sent if s.lstrip().upper().startswith(("UPDATE", "INSERT", "WITH"))]
    if db.engine.dialect.name == "postgresql":
        [(write, parameters)] = writes  # one round trip
        assert "unnest" not in write.lower() and not any(isinstance(p, list | tuple) for p in parameters), write
        assert re.search(r"\bWHERE\s+objectives\.id\s*=\s*\$\d+", write, re.IGNORECASE), write  # by its id
        assert parameters.count(one) == 2  # the UPDATE's id and the transition row's objective_row_id
    else:
        assert [w.split(None, 1)[0].upper() for w, _ in writes] == ["UPDATE", "INSERT"], writes

    columns = tuple(column.key for column in TRANSITIONS.columns)
    raw = await _raw(db, TRANSITIONS, columns, "objective_row_id", [one, other])
    assert len(raw[one][0]) == 36 and raw[one][0] != raw[other][0]  # a new id, as the INSERT gives one
    assert raw[one][1:] == (raw[other][1], one, *raw[other][3:])  # tenant, at, ... as the reference's INSERT stored
    assert raw[one][columns.index("expected_attainment")] is None
    objective = await _raw(db, OBJECTIVES, WRITTEN, "id", [one, alike])
    assert objective[one] == objective[alike]  # as the objective's own UPDATE stored the same outcome

    async with db.sessionmaker() as session:
        [stored] = (await session.execute(select(TRANSITIONS).where(TRANSITIONS.c.objective_row_id == one))).all()
        found = {o.id: o for o in (await session.execute(select(Objective))).scalars()}
    assert stored.at == EVALUATED and stored.at.tzinfo == UTC and stored.tenant == "acme"
    written = found[one]
    assert written.status == "breached" and written.evaluated_at == EVALUATED and written.last_event == "breached"
    assert (written.window_start, written.window_end) == (EVALUATED - timedelta(days=30), EVALUATED)
    assert (written.good, written.total, written.attainment) == (0.1 + 0.2, 3.0, 0.1)
    assert written.needs_evaluation is False
    assert written.firing_alerts == ["page"] and written.details == {"budget_target": 0.999}
    assert found[other].status == "no_data"  # the UPDATE by id touched its own row alone


@pytest.mark.parametrize("chunk", [False, True], ids=["one", "chunk"])
async def test_no_transition_row_is_stored_for_an_objective_its_update_did_not_write(db: Database, chunk: bool) -> None:
    """The transition rows are inserted for the objectives the UPDATE wrote alone (on PostgreSQL by the UPDATE's
    statement, on SQLite by the INSERT after it, still two statements): an outcome for an objective gone (here:
    never there) stores no transition row, alone or in a chunk, on either database."""
    objectives = [_objective(n) for n in range(2)]
    async with db.session() as session:
        session.add_all(objectives)
    there = objectives[0].id
    gone = new_id()
    rows, moved = [_outcome(gone, "breached")], [_moved(gone)]
    if chunk:
        rows, moved = [_outcome(there, "breached"), *rows], [_moved(there), *moved]

    async with db.session() as session:
        with _statements(db) as sent:
            await update_outcomes(session, rows, moved)

    writes = [s for s, _ in sent if s.lstrip().upper().startswith(("UPDATE", "INSERT", "WITH"))]
    assert len(writes) == (1 if db.engine.dialect.name == "postgresql" else 2), writes
    stored = await _raw(db, TRANSITIONS, ("tenant",), "objective_row_id", [there, gone])
    assert stored == ({there: ("acme",)} if chunk else {})
