"""Hot reads: a few bounded statements in one snapshot, without a session or a write lock.

A request that only reads one row or one page needs neither the ORM nor the request transaction.
On SQLite (WAL) a reader never waits for a writer and an indexed read of one row takes tens of
microseconds, less than a single hop to aiosqlite's thread (a statement through aiosqlite takes
four), so the read runs inline on a read-only connection of its own. Should SQLite answer busy
there (a checkpoint or WAL recovery) or fail to open the file, the read is run again through the
async engine, never waited for on the event loop. Elsewhere (PostgreSQL) the same function runs on a connection of
the async engine given (`Database` gives it a pool of its own, read-only, REPEATABLE READ).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Connection, create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import StaticPool

T = TypeVar("T")
ReadFunction = Callable[[Connection], T]


def _inline_sqlite_engine(url: str) -> Engine | None:
    """A read-only pysqlite engine on the same file, or None where inline reads do not apply."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    path = parsed.database
    engine = create_engine(
        "sqlite://",
        creator=lambda: sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False),
        poolclass=StaticPool,  # one connection, only ever used from the event loop's thread
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # transactions begin where SQLAlchemy says (below)
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA busy_timeout=0")  # never wait on the event loop: busy falls back instead
        cursor.execute("PRAGMA query_only=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # One snapshot for every statement of the read; sent to the driver as it is (nothing to compile).
        connection.connection.dbapi_connection.execute("BEGIN DEFERRED")

    return engine


class Reader:
    """Runs a read function (plain SQLAlchemy Core on a sync Connection) in one snapshot."""

    def __init__(self, engine: AsyncEngine) -> None:
        """`engine` runs reads that cannot run inline; give it read-only execution options."""
        self.engine = engine
        self._inline = _inline_sqlite_engine(str(engine.url.render_as_string(hide_password=False)))
        self._inline_connection: Connection | None = None

    def _inline_usable(self) -> Connection | None:
        # The file exists and is in WAL mode only once the service has migrated it.
        if self._inline is None or self._inline_connection is not None:
            return self._inline_connection
        try:
            connection = self._inline.connect()
            mode = connection.exec_driver_sql("PRAGMA journal_mode").scalar()
            connection.rollback()
        except OperationalError:
            return None
        if str(mode).lower() != "wal":
            connection.close()
            self._inline = None
            return None
        self._inline_connection = connection  # kept: reads run to completion without awaiting, one at a time
        return connection

    async def read(self, function: ReadFunction[T]) -> T:
        """`function(connection)` inside one read-only snapshot; returns what it returns."""
        if (connection := self._inline_usable()) is not None:
            try:
                with connection.begin():
                    return function(connection)
            except OperationalError as exc:
                if not _out_of_reach(exc):
                    raise  # e.g. a write attempted on this read-only connection
        try:
            async with self.engine.connect() as async_connection:
                return await async_connection.run_sync(function)
        except DBAPIError as exc:
            if not exc.connection_invalidated:
                raise
        # The pooled connection had died (the server restarted, a proxy dropped it): a read is safe to
        # run again, on a fresh connection, instead of pinging every connection at checkout.
        async with self.engine.connect() as async_connection:
            return await async_connection.run_sync(function)

    def dispose(self) -> None:
        if self._inline_connection is not None:
            self._inline_connection.close()
            self._inline_connection = None
        if self._inline is not None:
            self._inline.dispose()


def _out_of_reach(exc: OperationalError) -> bool:
    """SQLite answered busy (a checkpoint, WAL recovery) or could not open the file: not the read's fault."""
    message = str(exc.orig).lower()
    return isinstance(exc.orig, sqlite3.OperationalError) and any(
        words in message for words in ("locked", "busy", "unable to open")
    )
