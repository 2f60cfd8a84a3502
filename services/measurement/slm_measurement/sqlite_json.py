"""How the passes' Core reads on SQLite take its text: a JSON column decoded fast (`SQLiteJSON`), a timestamp
column parsed once per distinct text (`SQLiteInstant`), and a list of ids bound as one JSON text (`in_list`)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, cast

import msgspec
from sqlalchemy import BindParameter, ColumnElement, Dialect, Select, Text, TypeDecorator, bindparam, func, select
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Mapped

from slm_measurement.kept import KeptWhenFull
from slm_shared.db import UTCDateTime
from slm_shared.read_statements import decode_json


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
    """What SQLite's JSON text reads as (see `SQLiteJSON`); also for text a statement returned undecoded, on either
    database (`read_statements.decode_json`: the value `json.loads` gives)."""
    if not isinstance(value, str):
        return value  # NULL, or a number SQLite's JSON functions stored
    return decode_json(value)


class SQLiteInstant(TypeDecorator[datetime]):
    """A `UTCDateTime` column as SQLite returns it (text), each distinct text parsed once: what `UTCDateTime` gives.

    A pass reads the same instants (an agreement's versions, an objective's effective span) pass after
    pass; parsing one took about as long as judging a burn-rate tier. The value, a datetime, never changes.
    """

    impl = Text
    cache_ok = True

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        return None if value is None else _instant(value)


def _utc_reader() -> Callable[[Any], datetime]:
    """`UTCDateTime`'s own result processor on SQLite (every SQLite engine's dialect reads the text alike)."""
    dialect = sqlite.dialect()
    reader = UTCDateTime().dialect_impl(dialect).result_processor(dialect, None)
    if reader is None:
        raise TypeError("UTCDateTime has no result processor on SQLite: SQLiteInstant cannot read its text")
    return cast(Callable[[Any], datetime], reader)


_read_utc = _utc_reader()

# Each distinct text's instant, kept when full (`kept`: a pass meets the same texts in the same order every time).
_INSTANTS: KeptWhenFull[str, datetime] = KeptWhenFull(8192)


def _instant(text: str) -> datetime:
    """What `UTCDateTime` reads SQLite's `text` as, parsed once per distinct text (up to `_INSTANTS`' bound)."""
    if (found := _INSTANTS.get(text)) is not None:
        return found
    found = _read_utc(text)
    _INSTANTS.keep(text, found)
    return found


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
