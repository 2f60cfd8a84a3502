"""A JSON column as SQLite returns it, decoded fast, and lists bound as JSON: the passes' Core reads use them."""

from __future__ import annotations

import json
from typing import Any

import msgspec
from sqlalchemy import BindParameter, ColumnElement, Dialect, Select, Text, TypeDecorator, bindparam, func, select
from sqlalchemy.orm import Mapped

_decode = msgspec.json.Decoder().decode


class SQLiteJSON(TypeDecorator[Any]):
    """A JSON column as SQLite returns it (text), decoded by msgspec: what `json` decodes, at a fraction of the cost.

    Text msgspec refuses but `json` reads (NaN, 1e400, a lone surrogate) is decoded by `json`, so
    every value is the one the column's own type gives. (PostgreSQL's driver decodes JSON itself.)
    """

    impl = Text
    cache_ok = True

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        return json_of(value)


def json_of(value: Any) -> Any:
    """What SQLite's JSON text reads as (see `SQLiteJSON`); also for text a statement returned undecoded."""
    if not isinstance(value, str):
        return value  # NULL, or a number SQLite's JSON functions stored
    try:
        return _decode(value)
    except msgspec.MsgspecError:
        return json.loads(value)


_encode = msgspec.json.Encoder().encode


class _JSONList(TypeDecorator[Any]):
    """A list of strings (or of lists of strings) bound as one JSON text (read back by SQLite's `json_each`)."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        items = list(value)
        strings = (text for item in items for text in (item if isinstance(item, list | tuple) else (item,)))
        if any("\x00" in text for text in strings if isinstance(text, str)):
            raise ValueError("an id bound as a JSON list holds U+0000, which json_each cuts short")
        return _encode(items).decode()


def json_list(name: str) -> BindParameter[Any]:
    """A list bound as `name`, as one JSON text (for `json_each`)."""
    return bindparam(name, type_=_JSONList())


def in_list(column: ColumnElement[Any] | Mapped[Any], name: str, *, negated: bool = False) -> ColumnElement[bool]:
    """SQLite: `column IN` the list of strings bound as `name`, one JSON text read by `json_each`.

    The statement's text is the same whatever the list's length: an expanding IN renders one
    parameter per item at every execution (for a pass's 200 ids, about a quarter of its read's CPU).
    """
    items = func.json_each(json_list(name)).table_valued("value")
    members: Select[Any] = select(items.c.value)
    return column.not_in(members) if negated else column.in_(members)
