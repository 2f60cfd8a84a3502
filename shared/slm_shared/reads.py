"""Hot reads: a few bounded statements in one snapshot, without a session or a write lock.

A request that only reads one row or one page needs neither the ORM nor the request transaction.
On SQLite (WAL) a reader never waits for a writer and an indexed read of one row takes tens of
microseconds, less than a single hop to aiosqlite's thread (a statement through the async engine
takes one, `slm_shared.sqlite_driver`), so the read runs inline on a read-only connection of its
own. Should SQLite answer busy there (a checkpoint or WAL recovery) or fail to open the file, the
read is run again through the async engine, never waited for on the event loop. Elsewhere
(PostgreSQL) `read` runs on a connection of the async engine given (`Database` gives it a pool of
its own, read-only, REPEATABLE READ).

A read of one statement (`rows`, `first`) needs no transaction around it: one statement sees one
snapshot by itself. It is run straight on the driver (`slm_shared.read_statements`): on SQLite on the
inline connection without BEGIN and COMMIT, on PostgreSQL on an asyncpg pool of read-only connections
in autocommit, one round trip (where a transaction costs three: BEGIN, the statement, ROLLBACK).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import asyncpg
from sqlalchemy import Connection, Select, create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import StaticPool

from slm_shared.read_connections import ReadConnections, closed_error
from slm_shared.read_statements import CompiledRead, decode_json

T = TypeVar("T")
ReadFunction = Callable[[Connection], T]
READ_POOL_SIZE = 10  # PostgreSQL connections for one-statement reads, per process (one round trip each)


def _dropped(error: Exception) -> bool:
    """Whether a read failed because its connection was dropped (a restart, a proxy, pg_terminate_backend).

    A lost connection (`slm_shared.db.connection_lost`: the server's last words, a closed socket), or asyncpg's
    protocol left mid-message by it (`InternalClientError`, `ProtocolError`: no SQLSTATE, so not a lost
    connection where a COMMIT's outcome is judged, but a connection no read can use again).
    """
    from slm_shared.db import connection_lost  # here, not at the top: db imports this module

    return connection_lost(error) or isinstance(error, asyncpg.exceptions.InternalClientError)


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
    """Runs reads in one snapshot: a read function (SQLAlchemy Core on a sync Connection), or one statement."""

    def __init__(self, engine: AsyncEngine) -> None:
        """`engine` runs reads that cannot run inline; give it read-only execution options."""
        self.engine = engine
        self._inline = _inline_sqlite_engine(str(engine.url.render_as_string(hide_password=False)))
        self._inline_connection: Connection | None = None
        self._compiled: dict[Select[Any], CompiledRead] = {}
        self._pool: ReadConnections | None = None
        self._pool_opening: asyncio.Future[ReadConnections] | None = None
        self._closed = False  # a read after `close` opens no pool that nothing would close

    @property
    def remote(self) -> bool:
        """Whether each statement is a round trip to a server (PostgreSQL), so fewer statements beat cheaper ones."""
        return self.engine.dialect.name == "postgresql"

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

    async def rows(self, statement: Select[Any], values: Mapping[str, Any]) -> list[Any]:
        """The rows of one SELECT with `values` bound to its parameters, as named tuples of its columns.

        One statement sees one snapshot by itself, so none is begun around it; a read of several
        statements that must agree with each other goes through `read`.
        """
        compiled = self._compiled.get(statement)
        if compiled is None:
            if not self._compiled:
                # The dialect learns the server's settings on its first connection (e.g. whether a backslash
                # in a literal is an escape); the statement is compiled for what it learns.
                async with self.engine.connect():
                    pass
            compiled = self._compiled[statement] = CompiledRead(statement, self.engine.dialect)
        arguments = compiled.arguments(values)
        if (connection := self._inline_usable()) is not None:
            try:
                raw = connection.connection.dbapi_connection.execute(compiled.sql, arguments).fetchall()  # type: ignore[union-attr]
            except sqlite3.OperationalError as exc:
                if not _sqlite_out_of_reach(exc):
                    raise
            else:
                return compiled.rows(raw)
        if self.remote:
            try:
                return await self._fetch(compiled, arguments)
            except Exception as exc:
                if not _dropped(exc):
                    raise
                return await self._fetch(compiled, arguments)  # a read is safe to run again, on a fresh connection
        async with self.engine.connect() as async_connection:
            result = await async_connection.exec_driver_sql(compiled.sql, arguments)
            return compiled.rows(result.all())

    async def first(self, statement: Select[Any], values: Mapping[str, Any]) -> Any | None:
        """The first row of one SELECT (see `rows`), or None."""
        found = await self.rows(statement, values)
        return found[0] if found else None

    async def _fetch(self, compiled: CompiledRead, arguments: tuple[Any, ...]) -> list[Any]:
        pool = self._pool or await self._open_pool()
        connection = await pool.acquire()
        try:
            if not compiled.typed:  # a column's result processor can depend on its type oid
                prepared = await connection.prepare(compiled.sql)
                compiled.type_columns(attribute.type.oid for attribute in prepared.get_attributes())
            raw = await connection.fetch(compiled.sql, *arguments)
        except asyncio.CancelledError:
            # Cancelled mid-statement: asyncpg sends the server a cancel request; the connection goes back once the
            # server has stopped the statement, never terminated while it runs on beside a new connection.
            pool.settle(connection)
            raise
        except BaseException as exc:
            # A server's error leaves the connection ready for the next statement; anything else (a lost
            # connection, a read cancelled mid-statement, a client-side error) may not: it is never handed out again.
            pool.release(connection, reusable=isinstance(exc, asyncpg.PostgresError) and not _dropped(exc))
            raise
        pool.release(connection)
        return compiled.rows(raw)

    async def _open_pool(self) -> ReadConnections:
        if self._closed:
            raise closed_error()
        if self._pool_opening is None:
            self._pool_opening = asyncio.ensure_future(_postgres_pool(self.engine))
        try:
            self._pool = await asyncio.shield(self._pool_opening)
        except Exception:
            self._pool_opening = None  # whatever failed, the next read tries again
            raise
        return self._pool

    async def close(self) -> None:
        self._closed = True
        if self._inline_connection is not None:
            self._inline_connection.close()
            self._inline_connection = None
        if self._inline is not None:
            self._inline.dispose()
        opening, self._pool_opening, self._pool = self._pool_opening, None, None
        if opening is not None:
            try:  # a shutdown never waits long on a pool still opening, nor stops on one that failed to
                pool = await asyncio.wait_for(asyncio.shield(opening), 2.0)
            except TimeoutError:
                opening.cancel()
                return
            except Exception:  # noqa: BLE001 - it never opened: nothing to close
                return
            try:
                await asyncio.wait_for(pool.close(), 2.0)
            except TimeoutError:
                pool.terminate()


async def _postgres_pool(engine: AsyncEngine) -> ReadConnections:
    """asyncpg connections to the engine's database, read-only, in autocommit, reset by nothing on release.

    The server refuses a write on them (`default_transaction_read_only`); nothing a read does outlives it,
    so a connection goes back to the pool without the reset query asyncpg's pool would otherwise send.
    """
    _, options = engine.dialect.create_connect_args(engine.url)
    for sqlalchemy_only in ("async_fallback", "async_creator_fn", "prepared_statement_cache_size"):
        options.pop(sqlalchemy_only, None)
    options.pop("prepared_statement_name_func", None)
    options["server_settings"] = {**options.get("server_settings", {}), "default_transaction_read_only": "on"}

    async def connect() -> asyncpg.Connection:
        connection = await asyncpg.connect(**options)
        try:
            for name in ("json", "jsonb"):  # the values the engine's connections give
                await connection.set_type_codec(name, encoder=json.dumps, decoder=decode_json, schema="pg_catalog")
        except BaseException:
            connection.terminate()
            raise
        return connection

    return ReadConnections(connect, READ_POOL_SIZE)


def _sqlite_out_of_reach(exc: sqlite3.OperationalError) -> bool:
    message = str(exc).lower()
    return any(words in message for words in ("locked", "busy", "unable to open"))


def _out_of_reach(exc: OperationalError) -> bool:
    """SQLite answered busy (a checkpoint, WAL recovery) or could not open the file: not the read's fault."""
    return isinstance(exc.orig, sqlite3.OperationalError) and _sqlite_out_of_reach(exc.orig)
