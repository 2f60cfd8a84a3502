"""One Core SELECT compiled once per dialect, run straight on the driver, its rows typed as SQLAlchemy would.

A hot read of one statement needs none of what a SQLAlchemy connection does per execution (a transaction
begun and ended, the statement's cache key, a cursor wrapper, a Row per result): the SQL text, the order of
its parameters and each column's result processor are worked out here once, and a row comes back as a named
tuple with the statement's column keys as attributes (what the rows of `Connection.execute` also offer).

On SQLite a JSON column's text is decoded by msgspec, not `json`: the same values for the same text, several
times faster; text msgspec refuses but `json` reads (NaN, 1e400, a lone surrogate) goes to SQLAlchemy's own
processor, so every value is the one it gives. (On PostgreSQL the driver decodes JSON, with `decode_json`.)
A `UTCDateTime` in the text SQLAlchemy writes on SQLite (`YYYY-MM-DD HH:MM:SS.ffffff`, UTC) is read in one
`fromisoformat` as the aware datetime its own processor gives (parse, then attach UTC: three calls); any other
text goes to it.
"""

from __future__ import annotations

import json
from collections import namedtuple
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import JSON, Select
from sqlalchemy.engine import Dialect

_MISSING = object()
Processor = Callable[[Any], Any] | None
_decode_json = msgspec.json.Decoder().decode


def decode_json(text: str) -> Any:
    """JSON text decoded by msgspec, or by `json` where msgspec refuses it (NaN, 1e400, a lone surrogate): the
    value `json.loads` gives, several times faster."""
    try:
        return _decode_json(text)
    except (msgspec.MsgspecError, ValueError):
        return json.loads(text)


def _sqlite_json(processor: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """SQLite's JSON text decoded by msgspec; anything else (NULL, a number, what msgspec refuses) by `processor`."""

    def process(value: Any) -> Any:
        if type(value) is str:
            try:
                return _decode_json(value)
            except (msgspec.MsgspecError, ValueError):  # e.g. a lone surrogate msgspec cannot encode
                pass
        return processor(value)

    return process


def _sqlite_utc_datetime(processor: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """SQLite's text of a `UTCDateTime` as SQLAlchemy writes it, read in one call; anything else by `processor`."""
    parse = datetime.fromisoformat

    def process(value: Any) -> Any:
        if type(value) is str and len(value) == 26 and value[10] == " ":  # "2026-11-30 18:05:48.123456"
            try:
                return parse(value + "+00:00")
            except ValueError:
                pass
        return processor(value)

    return process


def _utc_datetime() -> type:
    from slm_shared.db import UTCDateTime  # here, not at the top: db imports this module (through reads)

    return UTCDateTime


class CompiledRead:
    """`statement` for one dialect: its SQL, its positional arguments from named values, its rows typed."""

    def __init__(self, statement: Select[Any], dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        names = compiled.positiontup
        if names is None:
            raise ValueError(f"{dialect.name}: a positional parameter style is needed to run the statement raw")
        binds = {name: compiled.binds[name] for name in names}  # a name used twice is one parameter, in two places
        for name, bind in binds.items():
            if bind.expanding or bind.literal_execute:
                raise ValueError(f"parameter {name!r} is rendered per execution; run this statement through a session")
        self.dialect = dialect
        self.sql = compiled.string
        self._names = list(names)
        self._defaults = {name: bind.effective_value for name, bind in binds.items() if not bind.required}
        self._bind_processors = [binds[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names]
        self._columns = list(statement.selected_columns)
        self._row: Any = namedtuple("ReadRow", list(statement.selected_columns.keys()))  # type: ignore[misc]
        self._processors: list[Processor] | None = None
        self._processed: list[tuple[int, Callable[[Any], Any]]] = []

    def arguments(self, values: Mapping[str, Any]) -> tuple[Any, ...]:
        """The positional arguments for named `values` (a literal of the statement where no value is given)."""
        arguments = []
        for name, process in zip(self._names, self._bind_processors, strict=True):
            value = values.get(name, _MISSING)
            if value is _MISSING:
                value = self._defaults.get(name, _MISSING)
                if value is _MISSING:
                    raise KeyError(f"no value for the statement's parameter {name!r}")
            arguments.append(value if process is None else process(value))
        return tuple(arguments)

    @property
    def typed(self) -> bool:
        """Whether the result processors are known (on PostgreSQL they depend on the columns' type oids)."""
        return self._processors is not None

    def type_columns(self, column_types: Iterable[Any] | None = None) -> None:
        """Work out each column's result processor, from the driver's column types where it gives them."""
        types = list(column_types) if column_types is not None else [None] * len(self._columns)
        processors: list[Processor] = []
        for column, column_type in zip(self._columns, types, strict=True):
            processor: Processor = column.type.dialect_impl(self.dialect).result_processor(self.dialect, column_type)
            if processor is not None and self.dialect.name == "sqlite":
                if self._msgspec_json(column.type):
                    processor = _sqlite_json(processor)
                elif type(column.type) is _utc_datetime():
                    processor = _sqlite_utc_datetime(processor)
            processors.append(processor)
        self._processors = processors
        self._processed = [(index, process) for index, process in enumerate(processors) if process is not None]

    def _msgspec_json(self, column_type: Any) -> bool:
        """Whether a column's JSON text is decoded by msgspec: SQLite's JSON with the default (json) decoder."""
        return type(column_type) is JSON and getattr(self.dialect, "_json_deserializer", None) is None

    def rows(self, raw: Iterable[Sequence[Any]]) -> list[Any]:
        """The driver's rows as named tuples, each value as SQLAlchemy's result processing would give it."""
        if self._processors is None:
            self.type_columns()
        make, processed = self._row._make, self._processed
        if not processed:
            return [make(row) for row in raw]
        rows = []
        for row in raw:
            values = list(row)
            for index, process in processed:
                values[index] = process(values[index])
            rows.append(make(values))
        return rows
