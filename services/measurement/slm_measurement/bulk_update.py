"""The objectives' bulk UPDATE: one executemany (on PostgreSQL one statement over arrays, or for one objective its
UPDATE by id) for a chunk's outcomes.

On PostgreSQL the chunk's transition rows are inserted by that same statement (the UPDATE in a data-modifying
`WITH`, the rows of the objectives it wrote alone), not by a round trip of their own; on SQLite by one executemany
after it, each row only if its objective is there (what the UPDATE by id wrote).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, exists, insert, select, update
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.compiler import SQLCompiler

from slm_measurement.models import Objective, ObjectiveTransition

OBJECTIVES = Objective.__table__  # type: ignore[attr-defined]
TRANSITIONS = ObjectiveTransition.__table__  # type: ignore[attr-defined]
_INSERT_TRANSITIONS = insert(TRANSITIONS)
# The columns of a transition row (the keys of `evaluation_pass._outcome_rows`' transition rows).
MOVED = tuple(column.key for column in TRANSITIONS.columns)
_MOVED_KEYS = frozenset(MOVED)
_MOVED_BOUND = {name: f"moved_{name}" for name in MOVED}  # a transition row's bound names beside the UPDATE's
_UPDATE_BY_ID = update(OBJECTIVES).where(OBJECTIVES.c.id == bindparam("row_id"))
_COLUMN = {"row_id": "id"}  # bound names that are not column names
# The columns an evaluation writes (the keys of `evaluation_pass._outcome_rows`' values, `row_id` aside).
WRITTEN = (
    "good",
    "total",
    "attainment",
    "window_start",
    "window_end",
    "status",
    "last_event",
    "details",
    "firing_alerts",
    "needs_evaluation",
    "evaluated_at",
)


@functools.lru_cache(maxsize=4)
def _compiled_update(dialect: Dialect) -> SQLCompiler:
    """The bulk UPDATE compiled once per dialect, as SQLAlchemy compiles it for rows with `WRITTEN`."""
    compiled = _UPDATE_BY_ID.compile(dialect=dialect, column_keys=list(WRITTEN))
    assert isinstance(compiled, SQLCompiler)
    return compiled


@functools.lru_cache(maxsize=4)
def _compiled_insert(dialect: Dialect) -> SQLCompiler:
    """The transition rows' INSERT compiled once per dialect, as SQLAlchemy compiles it for rows with `MOVED`."""
    compiled = _INSERT_TRANSITIONS.compile(dialect=dialect, column_keys=list(MOVED))
    assert isinstance(compiled, SQLCompiler)
    return compiled


class EncodedJSON(str):
    """A JSON column's value already encoded (see `judging.details_json`): bound as it is."""


def _bound(process: Callable[[Any], Any] | None, values: list[Any]) -> list[Any]:
    """A column's values as its bind processor converts them, each distinct value converted once.

    An instant shared by many rows (the evaluation time, a window's bounds) is one value when its
    UTC offset is the same too: equal instants in other zones, and the two wall times a clock change
    repeats (equal within one zone whatever their `fold`, an hour apart in UTC), are converted apart;
    (instant, offset) gives the wall time and back, so a conversion taking either is exact. The same
    object (details judged once for alike objectives, see `evaluation_pass._write_together`), kept
    alive by the rows so its id is not reused meanwhile, is one value; equal lists of names (the
    firing tiers, mostly none) are one value too. Anything else (numbers: 1, 1.0 and True are equal)
    is one value only as one object.
    """
    if process is None:
        return values
    converted: dict[Any, Any] = {}
    bound = []
    previous: Any = converted  # the value before, and what it was bound as (runs of one object: `now`, bounds)
    previous_bound: Any = None
    for value in values:
        if value is previous:
            bound.append(previous_bound)
            continue
        if type(value) is EncodedJSON:
            bound.append(value)
            continue
        if isinstance(value, datetime):
            key: Any = (value, value.utcoffset())
        elif isinstance(value, list) and all(type(item) is str for item in value):
            key = tuple(value)
        else:
            key = id(value)
        if (found := converted.get(key, converted)) is converted:
            found = converted[key] = process(value)
        bound.append(found)
        previous, previous_bound = value, found
    return bound


def _columns(compiled: SQLCompiler, rows: list[dict[str, Any]]) -> tuple[list[str], list[list[Any]]]:
    """The statement's bound names in order, and per name the rows' values as its bind processor converts them."""
    processors: Mapping[str, Callable[[Any], Any]] = compiled._bind_processors  # type: ignore[assignment]
    names = compiled.positiontup or []
    return names, [_bound(processors.get(name), [row[name] for row in rows]) for name in names]


async def update_outcomes(
    session: AsyncSession, rows: list[dict[str, Any]], moved: list[dict[str, Any]] | None = None
) -> None:
    """The outcomes' UPDATE, each value bound as SQLAlchemy binds it (`EncodedJSON` as it is), and the transition rows
    `moved` inserted: on PostgreSQL by the same statement (a data-modifying `WITH`), on SQLite by one executemany
    after it.

    On PostgreSQL a chunk of several objectives is one statement over arrays (`_unnest_update`); one objective (a
    breaching ingest's) is its UPDATE by id in a `WITH` with its transition row's INSERT (`_compiled_one`): the same
    round trip, with no arrays to plan for one row. Either way a transition row is inserted only for an objective
    the UPDATE wrote (its id among the UPDATE's `RETURNING`): an outcome of an objective gone meanwhile leaves no
    transition row. On SQLite the UPDATE is one executemany, the transition rows another, both sent to the driver as
    compiled, each transition row inserted only if its objective is there (`_compiled_insert_written`): the same
    rows as PostgreSQL's, with no statement added.

    The values are converted by the statements' own bind processors (JSON, UTC timestamps), column
    by column, each distinct value once per chunk.
    """
    connection = await session.connection()
    dialect = connection.dialect
    moved = _complete(moved) if moved else moved
    if dialect.name == "postgresql" and len(rows) == 1 and moved and len(moved) == 1:
        compiled = _compiled_one(dialect)
        [row], [transition] = rows, moved
        _, bound = _columns(compiled, [{**row, **{_MOVED_BOUND[name]: transition[name] for name in MOVED}}])
        await connection.exec_driver_sql(compiled.string, tuple(value for [value] in bound))
        return
    names, columns = _columns(_compiled_update(dialect), rows)
    if dialect.name == "postgresql" and (len(rows) > 1 or moved):
        # One statement for the chunk: every column bound as one array, joined to the rows by id; the transition
        # rows inserted by it too, each of their columns one array.
        inserted, values = _columns(_compiled_insert(dialect), moved) if moved else ([], [])
        await connection.exec_driver_sql(_unnest_update(dialect, tuple(names), tuple(inserted)), (*columns, *values))
        return
    await connection.exec_driver_sql(_compiled_update(dialect).string, list(zip(*columns, strict=True)))
    if moved:
        compiled = _compiled_insert_written(dialect)
        _, values = _columns(compiled, moved)
        await connection.exec_driver_sql(compiled.string, list(zip(*values, strict=True)))


@functools.lru_cache(maxsize=4)
def _compiled_insert_written(dialect: Dialect) -> SQLCompiler:
    """SQLite: the transition rows' INSERT (`MOVED`, each value bound as `_compiled_insert` binds it), a row inserted
    only if its objective is there, as PostgreSQL inserts one only for an objective its UPDATE returned.

    The UPDATE before it is by id alone and the transaction holds SQLite's one write lock since its first statement,
    so an objective there now is one the UPDATE wrote: no `RETURNING` to read back (Python's `sqlite3` returns no
    rows from an executemany) and no statement added.
    """
    row = select(*(bindparam(name, type_=TRANSITIONS.c[name].type) for name in MOVED))
    there = exists(select(OBJECTIVES.c.id).where(OBJECTIVES.c.id == bindparam("objective_row_id")))
    compiled = insert(TRANSITIONS).from_select(list(MOVED), row.where(there)).compile(dialect=dialect)
    assert isinstance(compiled, SQLCompiler)
    return compiled


@functools.lru_cache(maxsize=4)
def _compiled_one(dialect: Dialect) -> SQLCompiler:
    """PostgreSQL: one objective's UPDATE by id (`_UPDATE_BY_ID`, `WRITTEN`) in a data-modifying `WITH`, and its
    transition row inserted (`MOVED`, bound as `moved_<column>`) only if that UPDATE wrote the objective.

    Each value bound and cast as the per-row statements (`_compiled_update`, `_compiled_insert`) bind and cast it.
    """
    written = (
        _UPDATE_BY_ID.values({name: bindparam(name) for name in WRITTEN}).returning(OBJECTIVES.c.id).cte("written")
    )
    row = select(*(bindparam(_MOVED_BOUND[name], type_=TRANSITIONS.c[name].type) for name in MOVED))
    statement = insert(TRANSITIONS).from_select(list(MOVED), row.where(exists(select(written.c.id)))).add_cte(written)
    compiled = statement.compile(dialect=dialect)
    assert isinstance(compiled, SQLCompiler)
    return compiled


def _complete(moved: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The transition rows with every column (`MOVED`), as their own INSERT would store them: a column left out takes
    its default (`id` a new one, a nullable column NULL); one with neither raises `ValueError` naming it.

    The statement over arrays binds each column for every row (`row[name]`), where a missing key would fail with a
    bare `KeyError`, or, filled in by hand, store what the INSERT would not.
    """
    if all(len(row) == len(MOVED) and row.keys() >= _MOVED_KEYS for row in moved):
        return moved
    complete = []
    for row in moved:
        filled = dict(row)
        for name in MOVED:
            if name not in filled:
                filled[name] = _default(name)
        complete.append(filled)
    return complete


def _default(name: str) -> Any:
    """What a transition row's INSERT stores for `name` when the row leaves it out."""
    column = TRANSITIONS.c[name]
    default = column.default
    if default is not None and default.is_callable:
        return default.arg(None)  # SQLAlchemy wraps a function of no arguments in one taking the context
    if default is not None and default.is_scalar:
        return default.arg
    if column.nullable:
        return None
    raise ValueError(f"a transition row needs {name!r}: the column has no default and is not nullable")


def _arrays(dialect: Dialect, table: Any, names: tuple[str, ...], first: int) -> str:
    """`$first::type[], ...`: one array parameter per column, numbered from `first`, cast to its column's type.

    Without a length, as the per-row statements cast: a value too long fails rather than being cut.
    """
    types = [re.sub(r"\(\d+\)", "", table.c[_COLUMN.get(name, name)].type.compile(dialect=dialect)) for name in names]
    return ", ".join(f"${n}::{type_}[]" for n, type_ in enumerate(types, start=first))


@functools.lru_cache(maxsize=8)
def _unnest_update(dialect: Dialect, names: tuple[str, ...], inserted: tuple[str, ...] = ()) -> str:
    """PostgreSQL: the bulk UPDATE as one statement over `unnest` of one array per column (`row_id` for `id`),
    and, with `inserted` columns, the transition rows inserted after it in the same statement (the UPDATE in a
    data-modifying `WITH`, their arrays after its), those of the objectives it wrote alone.

    Each array is cast to its column's type as the per-row statements cast each value, so the values
    bound are the ones the per-row statements would store.
    """
    sets = ", ".join(f"{name} = v.{name}" for name in names if name != "row_id")
    update = (
        f"UPDATE objectives SET {sets} FROM unnest({_arrays(dialect, OBJECTIVES, names, 1)})"
        f" AS v({', '.join(names)}) WHERE objectives.id = v.row_id"
    )
    if not inserted:
        return update
    arrays = _arrays(dialect, TRANSITIONS, inserted, len(names) + 1)
    columns = ", ".join(inserted)
    return (
        f"WITH written AS ({update} RETURNING objectives.id) INSERT INTO {TRANSITIONS.name} ({columns})"
        f" SELECT * FROM unnest({arrays}) AS m({columns}) WHERE m.objective_row_id IN (SELECT id FROM written)"
    )
