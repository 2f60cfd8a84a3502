"""A JSON column as SQLite returns it, decoded fast: the passes' Core reads use it (`repository`, `agreed`)."""

from __future__ import annotations

import json
from typing import Any

import msgspec
from sqlalchemy import Dialect, Text, TypeDecorator

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
