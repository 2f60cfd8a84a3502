"""SQLite writers of one process take turns in the event loop instead of sleeping in SQLite's busy handler."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import text

from slm_shared.db import Database


async def test_a_second_writer_starts_only_when_the_first_has_committed(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'writers.db'}")
    steps: list[str] = []
    first_in = asyncio.Event()
    try:
        async with db.session() as session:
            await session.execute(text("CREATE TABLE t (n INTEGER)"))

        async def first() -> None:
            async with db.session() as session:
                await session.execute(text("INSERT INTO t VALUES (1)"))
                steps.append("first in")
                first_in.set()
                await asyncio.sleep(0.3)  # holds SQLite's write lock meanwhile
                steps.append("first out")

        async def second() -> None:
            await first_in.wait()
            async with db.session() as session:
                steps.append("second in")
                await session.execute(text("INSERT INTO t VALUES (2)"))

        async def reader() -> int:
            await first_in.wait()
            async with db.session(read_only=True) as session:  # readers never queue behind writers
                steps.append("reader in")
                return int(await session.scalar(text("SELECT count(*) FROM t")) or 0)

        _, _, seen = await asyncio.gather(first(), second(), reader())
        assert steps.index("reader in") < steps.index("first out") and seen == 0
        assert steps.index("first out") < steps.index("second in")
        async with db.session(read_only=True) as session:
            assert await session.scalar(text("SELECT count(*) FROM t")) == 2
    finally:
        await db.dispose()


async def test_a_failed_writer_lets_the_next_one_in(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'writers.db'}")
    try:
        async with db.session() as session:
            await session.execute(text("CREATE TABLE t (n INTEGER PRIMARY KEY)"))

        async def failing() -> None:
            async with db.session() as session:
                await session.execute(text("INSERT INTO t VALUES (1)"))
                raise RuntimeError("rolled back")

        results = await asyncio.gather(failing(), return_exceptions=True)
        assert isinstance(results[0], RuntimeError)
        async with asyncio.timeout(5):  # the turn was given back: no wait for the 30 s bound
            async with db.session() as session:
                await session.execute(text("INSERT INTO t VALUES (1)"))
        async with db.session(read_only=True) as session:
            assert await session.scalar(text("SELECT count(*) FROM t")) == 1
    finally:
        await db.dispose()
