"""SQLAlchemy's aiosqlite adaptation with one hop to the driver's thread per statement instead of three or four.

aiosqlite runs every call on its connection's thread: the adaptation SQLAlchemy ships creates a cursor, executes,
fetches the rows and closes the cursor as four calls, each a hand-over to that thread and a wake-up of the event
loop when it is done. Here a statement is one call doing all four on the thread; the rows, description, row count
and last row id come back together. Server-side cursors (streamed results) are SQLAlchemy's own, unchanged.
"""

from __future__ import annotations

import sqlite3
from collections import deque
from typing import Any

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)


def _run(connection: aiosqlite.Connection, operation: Any, parameters: Any, many: bool) -> tuple[Any, ...]:
    """On the driver's thread: execute, fetch what the statement returns, close the cursor."""
    cursor = connection._conn.cursor()  # the sqlite3 connection, here on its own thread
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else None
        return description, rows, cursor.lastrowid, cursor.rowcount
    finally:
        cursor.close()


class OneHopCursor(AsyncAdapt_aiosqlite_cursor):
    """A buffered cursor whose statement takes one hop to the driver's thread."""

    __slots__ = ()

    def _statement(self, operation: Any, parameters: Any, *, many: bool) -> None:
        connection = self._connection
        try:
            description, rows, lastrowid, rowcount = self.await_(
                connection._execute(_run, connection, operation, parameters, many)  # onto the thread, once
            )
        except Exception as error:  # noqa: BLE001 - as SQLAlchemy's own cursor: mapped, then raised
            self._adapt_connection._handle_exception(error)
        if description:
            self.description = description
            self.lastrowid = self.rowcount = -1
            self._rows = deque(rows)
        else:
            self.description = None
            self.lastrowid = lastrowid
            self.rowcount = rowcount

    def execute(self, operation: Any, parameters: Any = None) -> Any:
        self._statement(operation, parameters, many=False)

    def executemany(self, operation: Any, seq_of_parameters: Any) -> Any:
        self._statement(operation, seq_of_parameters, many=True)
        self.description = None


class OneHopConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()

    def cursor(self, server_side: bool = False) -> AsyncAdapt_aiosqlite_cursor:
        return super().cursor(server_side) if server_side else OneHopCursor(self)


class OneHopDBAPI(AsyncAdapt_aiosqlite_dbapi):
    """The DBAPI module SQLAlchemy's aiosqlite dialect is given (`create_engine(module=...)`)."""

    def connect(self, *arg: Any, **kw: Any) -> AsyncAdapt_aiosqlite_connection:
        adapted = super().connect(*arg, **kw)
        if type(adapted) is AsyncAdapt_aiosqlite_connection:  # not the sync fallback: it keeps its own
            adapted.__class__ = OneHopConnection
        return adapted


def one_hop_dbapi() -> OneHopDBAPI:
    return OneHopDBAPI(aiosqlite, sqlite3)
