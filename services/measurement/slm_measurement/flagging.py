"""The flag a batch sets on the objectives of its series, in one UPDATE that also returns what is due inline."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import JSON, Text, bindparam, case, func, true, type_coerce, update
from sqlalchemy.ext.asyncio import AsyncSession

from slm_measurement import agreed, bound_lists, flag_terms
from slm_measurement.repository import (  # the columns an evaluation reads, and their rows, are the repository's
    _EVALUATED_COLUMNS,
    OBJECTIVES,
    ObjectiveRow,
    _ObjectiveRow,
)
from slm_measurement.sqlite_json import json_of


class Flagged(NamedTuple):
    """An objective a batch flagged: its row id, its version (`updated_at`), and whether it is due inline."""

    id: str
    updated_at: datetime
    due: bool
    row: tuple[Any, ...] | None = None  # its evaluated columns when flagged with `read` (all NULL when not due)
    terms: Any = None  # with `read` on SQLite, its agreement's stored versions when due (`flag_terms`), else NULL


async def flag_series_for_evaluation(
    session: AsyncSession,
    *,
    tenant: str,
    series: set[tuple[str, str]],
    evaluated_before: datetime,
    read: bool = False,
) -> list[Flagged]:
    """Flag the active objectives on the given (service, indicator) pairs as needing evaluation; returns them.

    One statement flags, locks (the update's row locks, held until this transaction ends) and tells, for
    each, whether it is due for an evaluation with its batch: never evaluated, or last evaluated before
    `evaluated_before` (one evaluated since is left flagged, for the worker to coalesce many batches into
    one evaluation). `read`: each due one's evaluated columns come back too (`rows_of` makes rows of those
    evaluated here, with no second read); a row not due comes back with NULL in their stead, so the database
    neither sends nor decodes the JSON of a row left to the worker. On SQLite a due one's agreement's stored
    versions come back with it too (`terms_of`), read in the same statement, not a round trip of their own (not on
    PostgreSQL: see `flag_terms`). Otherwise only ids come back. No filter on the flag itself: on PostgreSQL the
    update then waits for a worker that holds the row, and sets the flag again after that worker's evaluation
    commits (and sees the time that evaluation stored).
    """
    if not series:
        return []
    connection = await session.connection()
    postgres = connection.dialect.name == "postgresql"
    statement = _FLAG[postgres, read]
    parameters = {
        "of_tenant": tenant,
        "evaluated_before": evaluated_before,
        **bound_lists.pairs("series", series, postgres=postgres),
    }
    rows = await connection.execute(statement, parameters)
    if not read:
        return sorted(Flagged(row[0], row[1], bool(row[2])) for row in rows)
    if postgres:
        return sorted(Flagged(row[0], row[1], bool(row[2]), tuple(row[3:])) for row in rows)
    return sorted(Flagged(row[0], row[1], bool(row[2]), tuple(row[3:-1]), row[-1]) for row in rows)


def terms_of(session: AsyncSession, flagged: Sequence[Flagged]) -> dict[tuple[str, str], agreed.Agreed] | None:
    """SQLite: the stored versions of the agreements of objectives flagged with `read`, as `agreed.agreed_many`
    gives them when run after the flag update in the same transaction (the writer's turn held since `BEGIN
    IMMEDIATE`, no activation commits in between: `flag_terms`).

    None on PostgreSQL (the flag update does not read them there: a row it waited for may be newer than what a
    subquery of it reads), and when they cannot be worked out (stored text that is not JSON, or not an instant):
    the evaluation then reads them itself, and fails on them there as it would have (an objective's failure, not
    the batch's).
    """
    if session.get_bind().dialect.name == "postgresql":
        return None
    at = _EVALUATED_COLUMNS.index(OBJECTIVES.c.tenant), _EVALUATED_COLUMNS.index(OBJECTIVES.c.agreement_id)
    returned = ((f.row[at[0]], f.row[at[1]], f.terms) for f in flagged if f.row is not None)
    try:
        return flag_terms.returned_terms(returned)
    except (ValueError, TypeError, AttributeError):
        # JSON that does not decode, an instant's text, a payload that is not an object: read again by the
        # evaluation, and failed there for that objective alone, as without the flag's terms (an error of the
        # decoding itself shows there too)
        return None


def rows_of(session: AsyncSession, flagged: Sequence[Flagged]) -> list[ObjectiveRow]:
    """The rows (as a pass reads them) of objectives flagged with `read`, their JSON decoded."""
    if session.get_bind().dialect.name == "postgresql":  # asyncpg decoded the JSON already
        return [_ObjectiveRow._make(f.row or ()) for f in flagged]
    rows = []
    for f in flagged:
        values = list(f.row or ())
        for at in _JSON_AT:
            values[at] = json_of(values[at])
        rows.append(_ObjectiveRow._make(values))
    return rows


_JSON_AT = [at for at, column in enumerate(_EVALUATED_COLUMNS) if isinstance(column.type, JSON)]


# Due for an evaluation with its batch (see `flag_series_for_evaluation`): never evaluated, or before the bound.
# Not `evaluated_at IS NULL OR ...`: in an UPDATE's RETURNING, SQLite 3.40 reads `IS NULL` of a NULL column as false.
_DUE = func.coalesce(
    OBJECTIVES.c.evaluated_at < bindparam("evaluated_before", type_=OBJECTIVES.c.evaluated_at.type), true()
)


def _returned(postgres: bool) -> list[Any]:
    """The evaluated columns a flag update returns: on PostgreSQL NULL for a row not due, on SQLite the JSON as text.
    On SQLite then its agreement's stored versions, only for a row due (NULL, and not read, otherwise); on
    PostgreSQL not at all (`flag_terms` says why).

    PostgreSQL's driver decodes every JSON value it receives, so a row left to the worker gets NULL instead
    (`CASE`); SQLite's text is decoded only for the rows evaluated inline (`rows_of`), and a `CASE` per
    column there costs more than the text it spares (measured).
    """
    if postgres:
        return [type_coerce(case((_DUE, column)), column.type).label(column.key) for column in _EVALUATED_COLUMNS]
    terms = case((_DUE, flag_terms.terms_of_row(OBJECTIVES))).label("agreement_terms")
    return [
        *(
            type_coerce(column, Text).label(column.key) if isinstance(column.type, JSON) else column
            for column in _EVALUATED_COLUMNS
        ),
        terms,
    ]


def _flag(postgres: bool, read: bool) -> Any:
    """The flag update, built once: a statement of 40 columns costs more to build and key than to run."""
    return (
        update(OBJECTIVES)
        .where(
            OBJECTIVES.c.tenant == bindparam("of_tenant"),
            OBJECTIVES.c.active.is_(True),
            bound_lists.pair_is_in(OBJECTIVES.c.service_key, OBJECTIVES.c.indicator, "series", postgres=postgres),
        )
        .values(needs_evaluation=True)
        .returning(OBJECTIVES.c.id, OBJECTIVES.c.updated_at, _DUE, *(_returned(postgres) if read else ()))
    )


# By whether the database is PostgreSQL, and whether the evaluated columns are returned.
_FLAG = {(postgres, read): _flag(postgres, read) for postgres in (False, True) for read in (False, True)}
