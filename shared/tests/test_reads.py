"""Hot reads: one snapshot on a real SQLite file, inline while SQLite answers, through the async engine when busy."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from slm_shared.db import Database


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
