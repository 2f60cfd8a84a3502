"""SQLAlchemy's aiosqlite adaptation with one hop to the driver's thread per statement instead of three or four.

aiosqlite runs every call on its connection's thread: the adaptation SQLAlchemy ships creates a cursor, executes,
fetches the rows and closes the cursor as four calls, each a hand-over to that thread and a wake-up of the event
loop when it is done. Here a statement is one call doing all four on the thread; the rows, description, row count
and last row id come back together. Server-side cursors (streamed results) are SQLAlchemy's own but for the kept
BEGIN (below), which a streamed statement runs first, in a hop of its own.

A transaction's BEGIN (`db.create_engine` issues `BEGIN IMMEDIATE` for writers, `BEGIN DEFERRED` for readers) is
not a hop of its own: it is kept and run on the thread just before the transaction's first statement, in that
statement's hop. Nothing runs on the connection in between, so the transaction is the same (a writer holds the
write lock from its first statement, waiting in the busy handler for it as before); a transaction that ends
before any statement ends without a hop (`commit` or `rollback` drop the kept BEGIN). The wait for the write lock,
and a "database is locked" once the busy timeout is over, now belong to the first statement (and its span): that
statement fails and does not run, and the BEGIN is kept again, so the transaction's next statement begins it afresh
rather than running in autocommit. A BEGIN text inside a transaction is not kept: it runs, and fails, as before.

This leans on parts of aiosqlite and SQLAlchemy that are not public (`aiosqlite.Connection._execute` and `_conn`,
SQLAlchemy's adapter classes and their slots). `one_hop_dbapi` checks they are still there as expected; if a newer
release changed them it logs a warning and gives None, and the dialect keeps its own adaptation: an upgrade costs
the saved hops, never a working connection.
"""

from __future__ import annotations

import inspect
import logging
import sqlite3
import weakref
from collections import deque
from functools import cache
from typing import Any

import aiosqlite
from sqlalchemy.dialects.sqlite import aiosqlite as stock

logger = logging.getLogger(__name__)

# what `OneHopCursor` sets on SQLAlchemy's buffered cursor, all slots of it
CURSOR_SLOTS = ("_adapt_connection", "_connection", "description", "await_", "_rows", "rowcount", "lastrowid")
# the statements that open a transaction, kept until the transaction's first statement (see the module's text)
BEGINS = frozenset({"BEGIN", "BEGIN DEFERRED", "BEGIN IMMEDIATE", "BEGIN EXCLUSIVE"})
# aiosqlite connection -> the BEGIN its next statement runs first (SQLAlchemy's adapted classes have no room)
_kept_begin: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()


def _slots(cls: type) -> set[str]:
    names: set[str] = set()
    for klass in cls.__mro__:
        declared = klass.__dict__.get("__slots__", ())
        names.update((declared,) if isinstance(declared, str) else declared)
    return names


def unsupported() -> str | None:
    """What this module relies on that the installed aiosqlite or SQLAlchemy no longer has as expected, or None."""
    driver = getattr(aiosqlite, "Connection", None)
    execute = getattr(driver, "_execute", None)
    if not inspect.iscoroutinefunction(execute):
        return "aiosqlite.Connection._execute is not a coroutine function"
    kinds = [parameter.kind for parameter in inspect.signature(execute).parameters.values()]
    if kinds[:2] != [inspect.Parameter.POSITIONAL_OR_KEYWORD] * 2 or inspect.Parameter.VAR_POSITIONAL not in kinds:
        return "aiosqlite.Connection._execute no longer takes (self, fn, *args)"
    if not isinstance(inspect.getattr_static(driver, "_conn", None), property):
        return "aiosqlite.Connection._conn is not a property"
    needed = {
        "AsyncAdapt_aiosqlite_cursor": ("execute", "executemany", "fetchall"),
        "AsyncAdapt_aiosqlite_connection": ("cursor", "_handle_exception", "await_"),
        "AsyncAdapt_aiosqlite_dbapi": ("connect",),
    }
    for name, attributes in needed.items():
        cls = getattr(stock, name, None)
        if not isinstance(cls, type):
            return f"sqlalchemy.dialects.sqlite.aiosqlite.{name} is gone"
        for attribute in attributes:
            if not hasattr(cls, attribute):
                return f"sqlalchemy.dialects.sqlite.aiosqlite.{name}.{attribute} is gone"
    missing = set(CURSOR_SLOTS) - _slots(stock.AsyncAdapt_aiosqlite_cursor)
    if missing:
        return f"SQLAlchemy's aiosqlite cursor has no {', '.join(sorted(missing))}"
    if stock.AsyncAdapt_aiosqlite_cursor.server_side:
        return "SQLAlchemy's aiosqlite cursor is no longer the buffered one"
    streamed = getattr(stock, "AsyncAdapt_aiosqlite_ss_cursor", None)
    if not isinstance(streamed, type) or not issubclass(streamed, stock.AsyncAdapt_aiosqlite_cursor):
        return "sqlalchemy.dialects.sqlite.aiosqlite.AsyncAdapt_aiosqlite_ss_cursor is gone"
    _dbapi, connection, cursor, streamed_cursor = _one_hop_classes()
    if connection.__basicsize__ != stock.AsyncAdapt_aiosqlite_connection.__basicsize__:
        return "SQLAlchemy's aiosqlite connection can no longer take another class in place"  # `OneHopDBAPI.connect`
    if cursor.__basicsize__ != stock.AsyncAdapt_aiosqlite_cursor.__basicsize__:
        return "SQLAlchemy's aiosqlite cursor has a layout of its own"
    if streamed_cursor.__basicsize__ != streamed.__basicsize__:
        return "SQLAlchemy's aiosqlite server-side cursor has a layout of its own"
    return None


def _run(
    connection: sqlite3.Connection, operation: Any, parameters: Any, many: bool, begin: str | None = None
) -> tuple[Any, ...]:
    """On the driver's thread: the kept `begin` if any, then execute, fetch what the statement returns, close the
    cursor. A BEGIN that fails (the write lock not had within the busy timeout) raises before the statement runs."""
    cursor = connection.cursor()
    try:
        if begin is not None:
            cursor.execute(begin)
        if many:  # as SQLAlchemy's own cursor: no rows kept, even with RETURNING
            cursor.executemany(operation, parameters)
            return None, None, cursor.lastrowid, cursor.rowcount
        if parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else None
        return description, rows, cursor.lastrowid, cursor.rowcount
    finally:
        cursor.close()


def _keep_again(connection: Any, driver_connection: sqlite3.Connection | None, begin: str) -> None:
    """After a statement failed: if its kept BEGIN did not take effect (the write lock not had within the busy
    timeout), or SQLite ended the transaction, the BEGIN is kept again: SQLAlchemy still has the transaction open, and
    its next statement must begin it afresh, not run in autocommit. (The driver's thread is idle: nothing else runs
    on the connection while its one statement is awaited.)"""
    try:
        if driver_connection is not None and not driver_connection.in_transaction:
            _kept_begin[connection] = begin
    except sqlite3.Error:  # closed meanwhile: nothing to begin
        pass


@cache
def _one_hop_classes() -> tuple[type[stock.AsyncAdapt_aiosqlite_dbapi], type[Any], type[Any], type[Any]]:
    """The DBAPI module, connection, cursor and server-side cursor classes, built on SQLAlchemy's (only once
    `unsupported` looked)."""

    class OneHopCursor(stock.AsyncAdapt_aiosqlite_cursor):
        """A buffered cursor whose statement takes one hop to the driver's thread."""

        __slots__ = ()

        def _statement(self, operation: Any, parameters: Any, *, many: bool) -> None:
            connection = self._connection
            begin = driver_connection = None
            try:
                # as SQLAlchemy's own cursor, `_conn` first: once the connection is closed it raises "no active
                # connection", which the adaptation maps to an OperationalError SQLAlchemy takes for a disconnect
                # (the connection invalidated, the pool's next checkout a fresh one). `_execute` would raise
                # "Connection closed" instead, a bare ValueError.
                driver_connection = connection._conn
                if (
                    not many
                    and not parameters
                    and isinstance(operation, str)
                    and operation.strip() in BEGINS
                    and connection not in _kept_begin
                    and not driver_connection.in_transaction  # else it runs below, and fails as SQLite's own
                ):
                    _kept_begin[connection] = operation  # run with the transaction's first statement
                    self.description, self.lastrowid, self.rowcount = None, 0, -1
                    self._rows.clear()
                    return
                begin = _kept_begin.pop(connection, None)
                description, rows, lastrowid, rowcount = self.await_(
                    # onto the thread, once (with the transaction's BEGIN, if this is its first statement)
                    connection._execute(_run, driver_connection, operation, parameters, many, begin)
                )
            except Exception as error:  # noqa: BLE001 - as SQLAlchemy's own cursor: mapped, then raised
                if begin is not None:
                    _keep_again(connection, driver_connection, begin)
                self._adapt_connection._handle_exception(error)
            if description:
                self.description = description
                self.lastrowid = self.rowcount = -1
                self._rows = deque(rows)
            else:
                self.description = None
                self.lastrowid = lastrowid
                self.rowcount = rowcount
                self._rows.clear()

        def execute(self, operation: Any, parameters: Any = None) -> Any:
            self._statement(operation, parameters, many=False)

        def executemany(self, operation: Any, seq_of_parameters: Any) -> Any:
            self._statement(operation, seq_of_parameters, many=True)

    class OneHopStreamedCursor(stock.AsyncAdapt_aiosqlite_ss_cursor):
        """SQLAlchemy's server-side cursor, its statement run after the kept BEGIN (in a hop of its own): SQLAlchemy
        creates the cursor before a `Connection` begins implicitly, so the BEGIN is only kept once it executes."""

        __slots__ = ()

        def execute(self, operation: Any, parameters: Any = None) -> Any:
            self._adapt_connection._run_kept_begin()  # type: ignore[attr-defined]  # a OneHopConnection
            return super().execute(operation, parameters)

    class OneHopConnection(stock.AsyncAdapt_aiosqlite_connection):
        __slots__ = ()

        def cursor(self, server_side: bool = False) -> stock.AsyncAdapt_aiosqlite_cursor:
            if server_side:  # SQLAlchemy's own way, three or four hops, the kept BEGIN first (`OneHopStreamedCursor`)
                return OneHopStreamedCursor(self)
            return OneHopCursor(self)

        def _run_kept_begin(self) -> None:
            if (begin := _kept_begin.pop(self._connection, None)) is None:
                return
            driver_connection = None
            try:
                driver_connection = self._connection._conn
                self.await_(self._connection._execute(_run, driver_connection, begin, None, False))
            except Exception as error:  # noqa: BLE001 - as SQLAlchemy's own connection: mapped, then raised
                _keep_again(self._connection, driver_connection, begin)
                self._handle_exception(error)

        def execute(self, *args: Any, **kw: Any) -> Any:
            self._run_kept_begin()
            return super().execute(*args, **kw)

        def commit(self) -> None:
            if _kept_begin.pop(self._connection, None) is None:  # else no statement ran: nothing to commit
                super().commit()

        def rollback(self) -> None:
            if _kept_begin.pop(self._connection, None) is None:  # else no statement ran: nothing to roll back
                super().rollback()

    class OneHopDBAPI(stock.AsyncAdapt_aiosqlite_dbapi):
        """The DBAPI module SQLAlchemy's aiosqlite dialect is given (`create_engine(module=...)`)."""

        def connect(self, *arg: Any, **kw: Any) -> stock.AsyncAdapt_aiosqlite_connection:
            adapted = super().connect(*arg, **kw)
            if type(adapted) is stock.AsyncAdapt_aiosqlite_connection:  # not the sync fallback: it keeps its own
                adapted.__class__ = OneHopConnection
            return adapted

    return OneHopDBAPI, OneHopConnection, OneHopCursor, OneHopStreamedCursor


def one_hop_dbapi() -> stock.AsyncAdapt_aiosqlite_dbapi | None:
    """The DBAPI module for SQLAlchemy's aiosqlite dialect; None (the dialect's own) if `unsupported` finds a change."""
    try:
        changed = unsupported()
    except Exception as error:  # noqa: BLE001 - whatever a changed release breaks here, the stock adaptation remains
        changed = f"{type(error).__name__}: {error}"
    if changed is not None:
        logger.warning(
            "SQLite statements take SQLAlchemy's own aiosqlite adaptation (several hops each): %s "
            "(aiosqlite %s; slm_shared.sqlite_driver expects the range pinned in slm-shared)",
            changed,
            getattr(aiosqlite, "__version__", "?"),
        )
        return None
    dbapi, _connection, _cursor, _streamed = _one_hop_classes()
    return dbapi(aiosqlite, sqlite3)
