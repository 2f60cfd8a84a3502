"""A JSON column as SQLite returns it, decoded fast, its instants parsed once per distinct text, and lists bound as
JSON: the passes' Core reads use them."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any, cast

import msgspec
from sqlalchemy import ColumnElement, Dialect, Select, Text, TypeDecorator, bindparam, func, select

from slm_shared.db import UTCDateTime

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


class SQLiteInstant(TypeDecorator[datetime]):
    """A `UTCDateTime` column as SQLite returns it (text), each distinct text parsed once: what `UTCDateTime` gives.

    A pass reads the same instants (an agreement's versions, an objective's effective span) pass after
    pass; parsing one took about as long as judging a burn-rate tier. The value, a datetime, never changes.
    """

    impl = Text
    cache_ok = True

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        return None if value is None else _instant(dialect, value)


@functools.lru_cache(maxsize=8192)
def _instant(dialect: Dialect, text: str) -> datetime:
    return _utc_reader(dialect)(text)


@functools.lru_cache(maxsize=4)
def _utc_reader(dialect: Dialect) -> Callable[[Any], datetime]:
    """`UTCDateTime`'s own result processor on this dialect."""
    reader = UTCDateTime().dialect_impl(dialect).result_processor(dialect, None)
    assert reader is not None
    return cast(Callable[[Any], datetime], reader)


_encode = msgspec.json.Encoder().encode


class _JSONList(TypeDecorator[Any]):
    """A list of strings bound as one JSON text (read back by SQLite's `json_each`)."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        items = list(value)
        if any("\x00" in item for item in items if isinstance(item, str)):
            raise ValueError("an id bound as a JSON list holds U+0000, which json_each cuts short")
        return _encode(items).decode()


def in_list(column: ColumnElement[Any], name: str, *, negated: bool = False) -> ColumnElement[bool]:
    """SQLite: `column IN` the list of strings bound as `name`, one JSON text read by `json_each`.

    The statement's text is the same whatever the list's length: an expanding IN renders one
    parameter per item at every execution (for a pass's 200 ids, about a quarter of its read's CPU).
    """
    items = func.json_each(bindparam(name, type_=_JSONList())).table_valued("value")
    members: Select[Any] = select(items.c.value)
    return column.not_in(members) if negated else column.in_(members)
