"""Lists a caller sizes, bound as one parameter whatever their length: an array on PostgreSQL, JSON text on SQLite.

An expanding IN binds one parameter per item: past 32,767 of them PostgreSQL's driver refuses the statement
(a 500 for the batch), and its text, and prepared statement, changes with every length.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, String, all_, any_, bindparam, func, select, tuple_
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped

from slm_measurement.sqlite_json import in_list, json_list

Column = ColumnElement[Any] | Mapped[Any]  # a Core column or a model's (`col(Model.field)`)


def is_in(column: Column, name: str, *, postgres: bool, negated: bool = False) -> ColumnElement[bool]:
    """`column IN` (or, `negated`, `NOT IN`) the list of strings bound as `name`: `= ANY(array)` (`!= ALL(array)`)
    on PostgreSQL, `json_each` on SQLite.

    Negated, both answer as `NOT IN` does: true for an empty list, NULL (so not taken) for a NULL column.
    """
    if postgres:
        items = bindparam(name, type_=ARRAY(String))
        return column != all_(items) if negated else column == any_(items)
    return in_list(column, name, negated=negated)


def pair_is_in(first: Column, second: Column, name: str, *, postgres: bool) -> ColumnElement[bool]:
    """`(first, second) IN` the pairs of strings bound as `name` by `pairs`.

    PostgreSQL: `unnest` of two aligned arrays; SQLite: one JSON list of pairs (a join of two `json_each`
    on their index would scan the second for every item of the first).
    """
    if postgres:
        arrays = (bindparam(f"{name}_{part}", type_=ARRAY(String)) for part in (1, 2))
        pairs = func.unnest(*arrays).table_valued("first", "second").render_derived()
        return tuple_(first, second).in_(select(pairs.c.first, pairs.c.second))
    items = func.json_each(json_list(name)).table_valued("value")
    parts = (func.json_extract(items.c.value, f"$[{at}]") for at in (0, 1))
    return tuple_(first, second).in_(select(*parts))


def pairs(name: str, values: Iterable[tuple[str, str]], *, postgres: bool) -> dict[str, Any]:
    """The parameters that bind `values` for `pair_is_in(..., name)`."""
    ordered = sorted(values)
    if postgres:
        return {f"{name}_1": [first for first, _ in ordered], f"{name}_2": [second for _, second in ordered]}
    return {name: ordered}
