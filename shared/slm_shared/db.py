"""Async database engine and the request-scoped transaction."""

from __future__ import annotations

import asyncio
import sys
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.types import TypeDecorator

from slm_shared.reads import Reader
from slm_shared.sqlite_driver import one_hop_dbapi

READ_ONLY_OPTION = "slm_read_only"
WRITER_WAIT_SECONDS = 30.0  # as long as SQLite's own busy timeout; past it, SQLite's busy handler decides
URGENT_TURNS_IN_A_ROW = 4  # urgent writers go first at most this often while an ordinary one waits


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """Create an async engine; SQLite gets WAL, a busy timeout and immediate transactions."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        if parsed.get_driver_name() != "asyncpg":
            kwargs.setdefault("pool_pre_ping", True)
            return create_async_engine(url, **kwargs)
        ping = kwargs.pop("pool_pre_ping", True)
        engine = create_async_engine(url, **kwargs)
        if ping:
            event.listen(engine.sync_engine, "checkout", _ping_on_checkout)
        return engine

    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    # one hop to the driver's thread per statement (`sqlite_driver`); None: the dialect's own adaptation
    if parsed.get_driver_name() == "aiosqlite" and "module" not in kwargs and (module := one_hop_dbapi()) is not None:
        kwargs["module"] = module
    engine = create_async_engine(url, connect_args={"timeout": 30}, **kwargs)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin (see do_begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Writers take the write lock up front: a deferred transaction that later writes can fail
        # with SQLITE_BUSY instead of waiting for the other writer. Readers never wait for it.
        if connection.get_execution_options().get(READ_ONLY_OPTION):
            connection.exec_driver_sql("BEGIN DEFERRED")
        else:
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def _ping_on_checkout(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """Check a pooled asyncpg connection with one simple statement before use; a dead one is replaced.

    SQLAlchemy's own pre-ping costs asyncpg three round trips (BEGIN, the statement, ROLLBACK) on every
    checkout, as many as a short write transaction's own statements.
    """
    try:
        dbapi_connection.run_async(lambda connection: connection.execute("SELECT 1"))
    except Exception as exc:
        # only a lost connection is replaced; any other error (a connection left in a failed transaction,
        # a bug) surfaces as itself instead of hiding behind "connection closed" and a silent reconnect
        if connection_lost(exc) or dbapi_connection.driver_connection.is_closed():
            raise DisconnectionError(f"a pooled connection failed its check: {exc}") from exc
        raise


LOST_SQLSTATE_CLASSES = ("08", "57P")  # connection exception; the server ending the session (57P01 to 57P05)


def connection_lost(error: BaseException) -> bool:
    """Whether the error says the session is gone (the server or the network dropped it), not that a statement failed.

    After such an error neither the connection nor the outcome of a COMMIT in flight is known. It is an error
    SQLAlchemy marked as invalidating its connection, an SQLSTATE of class 08 (asyncpg's
    `ConnectionDoesNotExistError` for a connection closed mid-use) or 57P (admin or crash shutdown, the server
    not accepting connections, the database dropped, the idle session timeout: the server's termination notice
    as the reply), or, with no SQLSTATE, asyncpg's `InterfaceError` ("connection is closed") or a socket error.

    Not 57014 (query_canceled: statement_timeout or a cancel request): the session lives on and the statement
    was rolled back. A COMMIT can only be cancelled before its commit record is written (deferred triggers and
    constraint checks run first); from there PostgreSQL holds off interrupts, and a cancel while it waits for a
    synchronous standby ends with a WARNING and the COMMIT's success, never an error. So a COMMIT answered with
    57014 did not commit: its outcome is known.
    """
    cause: BaseException | None = error
    if isinstance(error, DBAPIError):
        if error.connection_invalidated:
            return True
        cause = error.orig and (error.orig.__cause__ or error.orig)  # asyncpg's own, behind SQLAlchemy's adapter
    sqlstate = getattr(cause, "sqlstate", None)
    if isinstance(sqlstate, str):
        return sqlstate.startswith(LOST_SQLSTATE_CLASSES)
    asyncpg = sys.modules.get("asyncpg")  # not imported: no error can be one of its (SQLite-only installs lack it)
    return isinstance(cause, OSError) or (asyncpg is not None and isinstance(cause, asyncpg.InterfaceError))


def is_postgres(engine: AsyncEngine) -> bool:
    """Whether the engine talks to PostgreSQL."""
    return engine.dialect.name == "postgresql"


async def lock_for_rule(session: AsyncSession, key: str) -> None:
    """Serialise transactions that check one cross-row rule (same key) until this one ends.

    PostgreSQL takes a transaction-level advisory lock on a hash of the key; SQLite needs none,
    since its writers already run one at a time.
    """
    if session.bind.dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": key})


class WriterQueue:
    """The writer turn of one event loop: first come first served, urgent writers ahead of the others.

    An urgent writer (one on a latency goal, such as recording a breach) is given the turn before the
    ordinary ones waiting, but at most `urgent_in_a_row` times in a row while one of them waits; the
    next turn is then the oldest ordinary writer's. One holder at a time, handed directly to the next.
    """

    def __init__(self, urgent_in_a_row: int = URGENT_TURNS_IN_A_ROW) -> None:
        self.urgent_in_a_row = urgent_in_a_row
        self._held = False
        self._urgent: deque[asyncio.Future[None]] = deque()
        self._ordinary: deque[asyncio.Future[None]] = deque()
        self._overtaken = 0  # urgent turns given since an ordinary writer has been waiting

    def locked(self) -> bool:
        return self._held

    def waiting(self, *, urgent: bool | None = None) -> int:
        """Writers waiting for the turn: all of them, or only the urgent (True) or ordinary (False) ones."""
        queues = {None: (*self._urgent, *self._ordinary), True: self._urgent, False: self._ordinary}[urgent]
        return sum(not waiter.done() for waiter in queues)

    async def acquire(self, *, urgent: bool = False) -> None:
        if not self._held:
            self._held = True
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue = self._urgent if urgent else self._ordinary
        queue.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # the turn came with the cancellation: pass it on
            elif waiter in queue:  # a release in between may have dropped it already
                queue.remove(waiter)
            raise

    def release(self) -> None:
        """Hand the turn to the next writer, or free it when none waits."""
        for queue in (self._urgent, self._ordinary):
            while queue and queue[0].done():
                queue.popleft()
        if self._urgent and (not self._ordinary or self._overtaken < self.urgent_in_a_row):
            self._overtaken = self._overtaken + 1 if self._ordinary else 0
            self._urgent.popleft().set_result(None)
        elif self._ordinary:
            self._overtaken = 0
            self._ordinary.popleft().set_result(None)
        else:
            self._held = False


class Database:
    """One engine, its session factory and the hooks run after each commit."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = url
        self.engine = create_engine(url, **engine_kwargs)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)
        self.read_sessionmaker = async_sessionmaker(
            self.engine.execution_options(**{READ_ONLY_OPTION: True}), expire_on_commit=False
        )
        self._read_engine: AsyncEngine | None = None
        if is_postgres(self.engine):
            # Hot reads get a pool of their own: they never wait for a slot behind writers, skip the
            # checkout ping (a read on a connection found dead is run again, see `Reader.read`), and
            # read in one read-only REPEATABLE READ snapshot, so a page and its total agree.
            self._read_engine = create_engine(url, **{**engine_kwargs, "pool_pre_ping": False})
            read_engine = self._read_engine.execution_options(
                **{READ_ONLY_OPTION: True}, isolation_level="REPEATABLE READ", postgresql_readonly=True
            )
        else:
            read_engine = self.engine.execution_options(**{READ_ONLY_OPTION: True})
        self.reader = Reader(read_engine)
        self.after_commit: list[Callable[[AsyncSession], None]] = []
        self._writer_lock: tuple[asyncio.AbstractEventLoop, WriterQueue] | None = None
        self._writer_task: asyncio.Task[Any] | None = None

    @property
    def writer_queue(self) -> WriterQueue | None:
        """This process's SQLite writer turn (None before the first write transaction, and on PostgreSQL)."""
        return None if self._writer_lock is None else self._writer_lock[1]

    @asynccontextmanager
    async def _writer_turn(self, read_only: bool, urgent: bool) -> AsyncIterator[None]:
        """On SQLite, one write transaction of this process at a time, queued in the event loop.

        Two writers of one process would otherwise meet on SQLite's lock, and the one that waits
        sleeps in SQLite's busy handler (up to 100 ms a step) long after the lock is free. An urgent
        writer is queued ahead of the ordinary ones (bounded, see `WriterQueue`).
        """
        task = asyncio.current_task()
        if read_only or is_postgres(self.engine) or (task is not None and task is self._writer_task):
            yield  # a nested write transaction of the holder waits in SQLite's busy handler, as before
            return
        loop = asyncio.get_running_loop()
        if self._writer_lock is None or self._writer_lock[0] is not loop:
            self._writer_lock = (loop, WriterQueue())
        lock = self._writer_lock[1]
        try:
            async with asyncio.timeout(WRITER_WAIT_SECONDS):
                await lock.acquire(urgent=urgent)
        except TimeoutError:
            acquired = False  # a writer holding on this long: wait in SQLite's busy handler as before
        else:
            acquired = True
        if not acquired:
            yield
            return
        self._writer_task = task
        try:
            yield
        finally:
            self._writer_task = None
            lock.release()

    @asynccontextmanager
    async def session(self, *, read_only: bool = False, urgent: bool = False) -> AsyncIterator[AsyncSession]:
        """A session inside one transaction: commit on success, roll back on error.

        A read-only transaction does not take SQLite's write lock, so it never waits for a writer.
        An `urgent` write transaction (on a latency goal) gets SQLite's writer turn before the
        ordinary ones waiting for it, never more than `URGENT_TURNS_IN_A_ROW` times in a row.
        When the body raises or is cancelled, the rollback and the release of the writer turn happen
        here, in the same task, before the error leaves the `async with`.
        """
        factory = self.read_sessionmaker if read_only else self.sessionmaker
        async with self._writer_turn(read_only, urgent), factory() as session:
            async with session.begin():
                yield session
            for hook in self.after_commit:
                hook(session)

    async def transaction(self, *, read_only: bool = False) -> AsyncIterator[AsyncSession]:
        """Generator form of `session`, for FastAPI dependencies with yield.

        FastAPI closes it as a context manager. Elsewhere use `session`: a generator left by
        `async for` when the body raises is closed only later, by the garbage collector, in
        another task, holding the writer turn until then.
        """
        async with self.session(read_only=read_only) as session:
            yield session

    async def ping(self) -> None:
        """Run a trivial query; raises when the database is unreachable."""
        async with self.engine.connect() as connection:
            await connection.exec_driver_sql("SELECT 1")

    async def dispose(self) -> None:
        await self.reader.close()
        if self._read_engine is not None:
            await self._read_engine.dispose()
        await self.engine.dispose()


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored and returned as timezone-aware UTC on every backend."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; use an aware UTC datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    """The current instant, timezone-aware UTC."""
    return datetime.now(UTC)
