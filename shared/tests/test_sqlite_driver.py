"""SQLite statements reach the connection's thread once each: the statement, its rows and its counts together."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import text

from slm_shared.db import Database


async def _wakeups_of(statement: Any) -> tuple[list[Any], int]:
    """The rows of awaiting `statement`, and how many times a thread woke the event loop meanwhile."""
    loop = asyncio.get_running_loop()
    plain, calls = loop.call_soon_threadsafe, 0

    def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        return plain(*args, **kwargs)

    loop.call_soon_threadsafe = counted  # type: ignore[method-assign]
    try:
        rows = await statement
    finally:
        del loop.call_soon_threadsafe
    return rows, calls


async def test_a_statement_with_its_rows_wakes_the_event_loop_once(sqlite_url: str) -> None:
    db = Database(sqlite_url)
    try:
        async with db.session() as session:
            await session.execute(text("CREATE TABLE numbers (n INTEGER PRIMARY KEY, name TEXT)"))
            await session.execute(text("INSERT INTO numbers (n, name) VALUES (:n, :name)"), [{"n": 1, "name": "one"}])
        async with db.session() as session:
            await session.execute(text("SELECT 1"))  # the transaction has begun: what follows is one statement each

            async def insert() -> list[Any]:
                found = await session.execute(
                    text("INSERT INTO numbers (n, name) VALUES (2, 'two'), (3, 'three') RETURNING n")
                )
                return list(found.all())

            async def select() -> list[Any]:
                return list((await session.execute(text("SELECT n, name FROM numbers ORDER BY n"))).all())

            async def update() -> list[Any]:
                return [(await session.execute(text("UPDATE numbers SET name = upper(name) WHERE n > 1"))).rowcount]

            assert await _wakeups_of(insert()) == ([(2,), (3,)], 1)
            assert await _wakeups_of(select()) == ([(1, "one"), (2, "two"), (3, "three")], 1)
            assert await _wakeups_of(update()) == ([2], 1)
        async with db.session(read_only=True) as session:
            names = (await session.execute(text("SELECT name FROM numbers ORDER BY n"))).scalars().all()
        assert names == ["one", "TWO", "THREE"]  # committed
    finally:
        await db.dispose()
