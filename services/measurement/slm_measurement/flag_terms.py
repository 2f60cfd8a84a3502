"""SQLite: a due objective's agreement terms read by the flag update itself (`flagging`), and worked out as the pass
works out its own read of them (`agreed.agreed_many`).

SQLite only. A REST ingest there holds the one writer's turn from its first statement (`BEGIN IMMEDIATE`), so no
activation commits between the flag update's start and its end: the terms it reads are the ones of the row it
returns. On PostgreSQL the flag update may wait for a row lock; under READ COMMITTED it then returns the row as the
transaction it waited for left it, while a subquery in its `RETURNING` reads the terms as of the statement's start
(an activation committed meanwhile: the row at its new version, the terms without it). There the evaluation reads
the terms in a statement of its own, after the wait.
"""

from __future__ import annotations

from collections.abc import Iterable
from operator import itemgetter
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, func, literal_column, select

from slm_measurement.agreed import Agreed, StoredVersion, agreed_from_stored  # the pass's cache of worked-out terms
from slm_measurement.sqlite_json import SQLiteInstant, json_of
from slm_measurement.terms import AgreementTerms


def terms_of_row(table: Table) -> ColumnElement[Any]:
    """The stored versions of the agreement of `table`'s row, as one JSON text: for SQLite's `UPDATE ... RETURNING`.

    The columns `agreed._terms_of` reads, per version (each instant and the payload as stored text), in one scalar
    subquery correlated to the row: the statement that locks an objective also reads its terms, with no second
    round trip. `returned_terms` makes of it what `agreed.agreed_many` gives.
    """
    terms = AgreementTerms.__table__  # type: ignore[attr-defined]
    columns = [terms.c.version, terms.c.effective_from, terms.c.activated_at, terms.c.effective_to, terms.c.ended_at]
    # The row's columns named with their table, as written: SQLAlchemy renders a SQLite RETURNING's columns
    # unqualified, and there the subquery's `tenant = tenant` would compare the terms' own column with itself.
    tenant: ColumnElement[Any] = literal_column(f"{table.name}.tenant")
    agreement_id: ColumnElement[Any] = literal_column(f"{table.name}.agreement_id")
    return (
        select(func.json_group_array(func.json_array(*columns, terms.c.payload)))
        .where(terms.c.tenant == tenant, terms.c.agreement_id == agreement_id)
        .correlate(table)
        .scalar_subquery()
    )


# What `agreed._terms_of` gives for an instant's text on SQLite (it does not read its dialect).
_instant, _NO_DIALECT = SQLiteInstant().process_result_value, cast(Any, None)


def returned_terms(returned: Iterable[tuple[str, str, Any]]) -> dict[tuple[str, str], Agreed]:
    """`agreed_many` of these (tenant, agreement_id, `terms_of_row` text): the same `Agreed` for the same rows.

    An agreement with no stored versions is left out (as `agreed_many` leaves it): its objective's row says.
    Raises `ValueError` (`json.JSONDecodeError` among them) for stored text that is not JSON or not an instant.
    """
    found: dict[tuple[str, str], Agreed] = {}
    for tenant, agreement_id, value in returned:
        if (tenant, agreement_id) in found or not value:
            continue
        stored = [
            (number, *(_instant(i, _NO_DIALECT) for i in instants), text) for number, *instants, text in json_of(value)
        ]
        if stored:
            versions = tuple(sorted(cast(list[StoredVersion], stored), key=itemgetter(0)))
            found[(tenant, agreement_id)] = agreed_from_stored(versions, False)
    return found
