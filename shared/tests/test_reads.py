"""Hot reads: one snapshot on a real SQLite file, inline while SQLite answers, through the async engine when busy."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import JSON, Boolean, Column, Connection, Float, MetaData, String, Table, bindparam, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from slm_shared.db import Database, UTCDateTime
from slm_shared.testing.postgres import PostgresServer


def _names(connection: Connection) -> list[str]:
    return list(connection.execute(text("SELECT name FROM items ORDER BY name")).scalars())


async def _database(path: Path) -> Database:
    db = Database(f"sqlite+aiosqlite:///{path}")
    async with db.session() as session:
        await session.execute(text("CREATE TABLE items (name TEXT PRIMARY KEY)"))
        await session.execute(text("INSERT INTO items VALUES ('a')"))
    return db


@pytest.mark.asyncio
async def test_inline_reads_see_every_commit_and_never_write(tmp_path: Path) -> None:
    db = await _database(tmp_path / "reads.db")
    try:
        assert await db.reader.read(_names) == ["a"]
        assert db.reader._inline_connection is not None  # the inline path served it
        async with db.session() as session:
            await session.execute(text("INSERT INTO items VALUES ('b')"))
        assert await db.reader.read(_names) == ["a", "b"]
        with pytest.raises(Exception, match=r"readonly|read-only|query_only"):
            await db.reader.read(lambda c: c.execute(text("INSERT INTO items VALUES ('c')")))
        assert await db.reader.read(_names) == ["a", "b"]
    finally:
        await db.dispose()


@pytest.mark.asyncio
async def test_a_busy_file_is_read_through_the_async_engine_without_blocking_the_loop(tmp_path: Path) -> None:
    path = tmp_path / "busy.db"
    db = await _database(path)
    await db.engine.dispose()  # nobody else has the file open when the holder takes it
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        # An exclusive-mode writer keeps every other connection out, readers included, until it lets go.
        holder.execute("PRAGMA locking_mode=EXCLUSIVE")
        holder.execute("BEGIN EXCLUSIVE")
        holder.execute("INSERT INTO items VALUES ('z')")
        holder.execute("COMMIT")
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.01)

        ticker = asyncio.create_task(tick())
        read = asyncio.create_task(db.reader.read(_names))
        await asyncio.sleep(0.3)
        assert not read.done()
        holder.close()  # lets go of the file
        assert await asyncio.wait_for(read, 10) == ["a", "z"]
        assert db.reader._inline_connection is None  # it was the async engine that answered
        ticker.cancel()
        assert ticks >= 10  # the event loop kept running while the read waited
    finally:
        holder.close()
        await db.dispose()


@pytest.mark.asyncio
async def test_postgresql_reads_share_one_snapshot_and_survive_a_dropped_connection(postgres_url: str) -> None:
    """Reads have a pool of their own without a checkout ping: a connection the server dropped is read on again."""
    db = Database(postgres_url)
    try:
        async with db.session() as session:
            await session.execute(text("CREATE TABLE items (name TEXT PRIMARY KEY)"))
            await session.execute(text("INSERT INTO items VALUES ('a')"))

        def page_and_total(connection: Connection) -> tuple[list[str], int, int]:
            names = _names(connection)
            return names, connection.execute(text("SELECT count(*) FROM items")).scalar_one(), os_pid(connection)

        def os_pid(connection: Connection) -> int:
            return int(connection.execute(text("SELECT pg_backend_pid()")).scalar_one())

        names, total, pid = await db.reader.read(page_and_total)
        assert names == ["a"] and total == 1

        # A writer commits between the reader's two statements: both still see the snapshot they began in.
        def with_a_commit_between(connection: Connection) -> tuple[list[str], int]:
            names = _names(connection)
            writer = committing_writer()
            writer.join()
            return names, connection.execute(text("SELECT count(*) FROM items")).scalar_one()

        def committing_writer() -> threading.Thread:
            def insert() -> None:
                asyncio.run(_insert(postgres_url, "b"))

            thread = threading.Thread(target=insert)
            thread.start()
            return thread

        assert await db.reader.read(with_a_commit_between) == (["a"], 1)
        assert (await db.reader.read(page_and_total))[:2] == (["a", "b"], 2)
        with pytest.raises(DBAPIError):  # read-only: a write is refused, never committed
            await db.reader.read(lambda connection: connection.execute(text("INSERT INTO items VALUES ('c')")))

        # The server drops the pooled reader connection; the next read answers all the same.
        async with db.session() as session:
            await session.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        names, total, again = await db.reader.read(page_and_total)
        assert names == ["a", "b"] and again != pid
    finally:
        await db.dispose()


async def _insert(url: str, name: str) -> None:
    other = Database(url)
    try:
        async with other.session() as session:
            await session.execute(text("INSERT INTO items VALUES (:name)"), {"name": name})
    finally:
        await other.dispose()


ITEMS = Table(
    "typed_items",
    MetaData(),
    Column("name", String(32), primary_key=True),
    Column("tenant", String(32), nullable=False),
    Column("tags", JSON, nullable=False),
    Column("live", Boolean, nullable=False),
    Column("score", Float, nullable=True),
    Column("at", UTCDateTime, nullable=True),
)
BY_TENANT = (
    select(ITEMS, func.count().over().label("matching"))
    .where(ITEMS.c.tenant == bindparam("tenant"))
    .order_by(ITEMS.c.name)
    .limit(bindparam("limit"))
)
BY_NAME = select(ITEMS).where(ITEMS.c.tenant == bindparam("tenant"), ITEMS.c.name == bindparam("name")).limit(1)
AT = datetime(2026, 3, 29, 1, 30, 15, 123456, tzinfo=UTC)


async def _typed_items(db: Database) -> None:
    async with db.engine.begin() as connection:
        await connection.run_sync(ITEMS.metadata.create_all)
        await connection.execute(
            ITEMS.insert(),
            [
                {"name": "a", "tenant": "t1", "tags": {"k": [1, "x"]}, "live": True, "score": 0.25, "at": AT},
                {"name": "b", "tenant": "t1", "tags": [], "live": False, "score": None, "at": None},
                {"name": "c", "tenant": "t2", "tags": ["other"], "live": True, "score": 1.0, "at": AT},
            ],
        )


@pytest.mark.asyncio
async def test_one_statement_reads_type_every_column_as_a_session_would(database_url: str, tmp_path: Path) -> None:
    db = Database(database_url)
    try:
        await _typed_items(db)
        rows = await db.reader.rows(BY_TENANT, {"tenant": "t1", "limit": 10})
        async with db.session() as session:  # what the ORM path reads for the same rows
            expected = (await session.execute(select(ITEMS).where(ITEMS.c.tenant == "t1").order_by(ITEMS.c.name))).all()
        assert [tuple(row)[:-1] for row in rows] == [tuple(row) for row in expected]
        assert [(row.name, row.matching) for row in rows] == [("a", 2), ("b", 2)]  # the total beside each row
        first = rows[0]
        assert first.tags == {"k": [1, "x"]} and first.live is True and first.score == 0.25
        assert first.at == AT and first.at.tzinfo is not None
        assert rows[1].live is False and rows[1].at is None

        # Bound per call: another tenant's rows never come back, and a literal of the statement (LIMIT 1) applies.
        assert [row.name for row in await db.reader.rows(BY_TENANT, {"tenant": "t2", "limit": 10})] == ["c"]
        assert await db.reader.first(BY_NAME, {"tenant": "t2", "name": "a"}) is None
        assert (await db.reader.first(BY_NAME, {"tenant": "t1", "name": "a"})).tags == {"k": [1, "x"]}
        with pytest.raises(KeyError, match="tenant"):
            await db.reader.rows(BY_NAME, {"name": "a"})

        # Every commit is seen by the next read (no snapshot kept between reads).
        async with db.session() as session:
            await session.execute(ITEMS.update().where(ITEMS.c.name == "a").values(tags=["changed"], live=False))
        changed = await db.reader.first(BY_NAME, {"tenant": "t1", "name": "a"})
        assert changed.tags == ["changed"] and changed.live is False
        if database_url.startswith("sqlite"):
            assert db.reader._inline_connection is not None  # served inline, on the read-only connection
    finally:
        await db.dispose()


@pytest.mark.asyncio
async def test_postgresql_one_statement_reads_send_the_statement_alone_on_read_only_connections(
    postgres_url: str, postgres_server: PostgresServer
) -> None:
    """No BEGIN, no ROLLBACK, no reset query: the server's statement log shows the SELECT alone, once per read."""
    db = Database(postgres_url)
    try:
        await _typed_items(db)
        async with db.session() as session:  # connections opened from now on log every statement they run
            await session.execute(text(f"ALTER DATABASE {make_url(postgres_url).database} SET log_statement = 'all'"))
        await db.reader.rows(BY_TENANT, {"tenant": "t1", "limit": 10})  # opens the pool, prepares the statement
        pool = db.reader._pool
        assert pool is not None and pool.get_size() == 1
        connection = await pool.acquire()
        pid = await connection.fetchval("SELECT pg_backend_pid()")
        assert await connection.fetchval("SHOW default_transaction_read_only") == "on"
        with pytest.raises(asyncpg.exceptions.ReadOnlySQLTransactionError):  # a write is refused there
            await connection.execute("INSERT INTO typed_items (name, tenant, tags, live) VALUES ('x', 't', '[]', true)")
        pool.release(connection)  # a server's error: the connection goes on serving reads
        log = postgres_server.root / "log"
        seen = log.stat().st_size
        for _ in range(5):
            assert len(await db.reader.rows(BY_TENANT, {"tenant": "t1", "limit": 10})) == 2
        await asyncio.sleep(0.2)  # the server writes its log asynchronously
        with log.open() as lines:
            lines.seek(seen)
            logged = [line for line in lines if f"[{pid}]" in line and "LOG:" in line]
        assert len(logged) == 5, logged
        assert all("execute" in line and "typed_items" in line for line in logged), logged

        # The server drops the pooled connection (a restart, a proxy): the next read answers all the same.
        async with db.session() as session:
            await session.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        assert [row.name for row in await db.reader.rows(BY_TENANT, {"tenant": "t1", "limit": 10})] == ["a", "b"]
    finally:
        await db.dispose()


@pytest.mark.asyncio
async def test_a_read_pool_that_failed_to_open_opens_on_the_next_read_and_closing_never_waits_long(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from slm_shared import reads

    db = Database(postgres_url)
    try:
        await _typed_items(db)
        opened = reads._postgres_pool
        failures = iter([ValueError("a bad SSL option")])

        async def flaky(engine):  # type: ignore[no-untyped-def]
            for failure in failures:
                raise failure
            return await opened(engine)

        monkeypatch.setattr(reads, "_postgres_pool", flaky)
        with pytest.raises(ValueError):
            await db.reader.rows(BY_TENANT, {"tenant": "t1", "limit": 10})
        assert len(await db.reader.rows(BY_TENANT, {"tenant": "t1", "limit": 10})) == 2  # opened again
    finally:
        await db.dispose()

    # A pool still opening when the process shuts down (a server that never answers) holds closing 2 s at most.
    stuck = Database(postgres_url)

    async def never(engine):  # type: ignore[no-untyped-def]
        await asyncio.Event().wait()

    monkeypatch.setattr(reads, "_postgres_pool", never)
    read = asyncio.create_task(stuck.reader.rows(BY_TENANT, {"tenant": "t1", "limit": 10}))
    await asyncio.sleep(0.1)
    await asyncio.wait_for(stuck.dispose(), 10.0)  # before, it waited for the opening for ever
    read.cancel()
    await asyncio.gather(read, return_exceptions=True)
