"""Hot reads: one snapshot on a real SQLite file, inline while SQLite answers, through the async engine when busy."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import Connection, text

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
