"""The objectives a pass takes, locked: a chunk's due ones by their ids, or those flagged by ingestion.

Core statements built once per database kind, returning plain rows (`repository.ObjectiveRow`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Select, bindparam, or_, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import UnaryExpression
from sqlmodel import col

from slm_measurement import bound_lists
from slm_measurement.models import Objective
from slm_measurement.repository import _EVALUATED_COLUMNS, OBJECTIVES, ObjectiveRow, _ObjectiveRow
from slm_measurement.sqlite_json import SQLiteInstant, SQLiteJSON
from slm_shared.db import UTCDateTime


def _evaluated_columns(postgres: bool) -> list[Any]:
    """The columns a pass reads; on SQLite its JSON columns are decoded by `SQLiteJSON` (5 per objective), its
    instants by `SQLiteInstant`."""
    if postgres:
        return _EVALUATED_COLUMNS
    return [_read_on_sqlite(column) for column in _EVALUATED_COLUMNS]


def _read_on_sqlite(column: Any) -> Any:
    if isinstance(column.type, JSON):
        return type_coerce(column, SQLiteJSON()).label(column.key)
    if isinstance(column.type, UTCDateTime):
        return type_coerce(column, SQLiteInstant()).label(column.key)
    return column


def _lock_due(postgres: bool) -> Select[Any]:
    """The chunk's objectives still due, found by their ids.

    On SQLite `active` is written `+ active`, which no index serves: else the planner searched the due
    index by `active` alone, reading every active objective (and sorting them) for each chunk.
    """
    active = (
        OBJECTIVES.c.active
        if postgres
        else UnaryExpression(OBJECTIVES.c.active, operator=operators.custom_op("+"), type_=Boolean)
    )
    return (
        select(*_evaluated_columns(postgres))
        .where(
            bound_lists.is_in(OBJECTIVES.c.id, "ids", postgres=postgres),
            active.is_(True),
            or_(
                col(Objective.needs_evaluation).is_(True),
                col(Objective.evaluated_at).is_(None),
                col(Objective.evaluated_at) < bindparam("stale_before"),
            ),
        )
        .order_by(col(Objective.id))
        .with_for_update(skip_locked=True)
    )


_LOCK_DUE = {False: _lock_due(False), True: _lock_due(True)}  # by whether the database is PostgreSQL


async def lock_due_objectives(
    session: AsyncSession, *, objective_row_ids: list[str], stale_before: datetime
) -> list[ObjectiveRow]:
    """Those of the objectives still due, locked; skips any another worker holds or has done.

    Plain rows (`ObjectiveRow`: the columns an evaluation reads), not entities: a pass reads them and
    writes its outcomes in bulk. See `lookups.entity_of` for the ones written one at a time.
    """
    connection = await session.connection()  # a Core statement: no ORM result machinery per row
    statement = _LOCK_DUE[connection.dialect.name == "postgresql"]
    rows = await connection.execute(statement, {"ids": objective_row_ids, "stale_before": stale_before})
    return [_ObjectiveRow._make(row) for row in rows]


def _lock_flagged(postgres: bool) -> Select[Any]:
    return (
        select(*_evaluated_columns(postgres))
        .where(
            col(Objective.active).is_(True),
            or_(col(Objective.needs_evaluation).is_(True), col(Objective.evaluated_at).is_(None)),
            bound_lists.is_in(OBJECTIVES.c.id, "done", postgres=postgres, negated=True),
        )
        .order_by(col(Objective.tenant), col(Objective.service_key), col(Objective.indicator), col(Objective.id))
        .limit(bindparam("limit"))
        .with_for_update(skip_locked=True)
    )


_LOCK_FLAGGED = {False: _lock_flagged(False), True: _lock_flagged(True)}


async def lock_flagged_objectives(session: AsyncSession, *, limit: int, done: Sequence[str] = ()) -> list[ObjectiveRow]:
    """Up to `limit` objectives flagged by ingestion (or never evaluated), locked, series by series.

    Chosen and locked by one statement in the transaction that evaluates them: those another worker
    holds are skipped, and `done` (evaluated, or failed, earlier in the same pass) are left out.
    """
    connection = await session.connection()
    statement = _LOCK_FLAGGED[connection.dialect.name == "postgresql"]
    rows = await connection.execute(statement, {"limit": limit, "done": list(done)})
    return [_ObjectiveRow._make(row) for row in rows]
