"""The read pool on PostgreSQL: no task per statement, bounded, nothing lost, no connection reused unsafe."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest
from sqlalchemy import bindparam, column, func, literal, select, table, text

from slm_shared import reads
from slm_shared.db import Database
from slm_shared.read_statements import CompiledRead

ITEMS = select(column("name")).select_from(table("items")).where(column("name") == bindparam("name"))
PID = select(func.pg_backend_pid().label("pid"))
SLEEP = select(func.pg_sleep(bindparam("seconds")).label("slept"))
DIVIDED = select((literal(1) / bindparam("by")).label("quotient"))


async def _database(url: str) -> Database:
    db = Database(url)
    async with db.session() as session:
        await session.execute(text("CREATE TABLE items (name TEXT PRIMARY KEY)"))
        await session.execute(text("INSERT INTO items VALUES ('a')"))
    return db


async def test_a_read_prepares_its_statement_once_per_connection_and_starts_no_task(postgres_url: str) -> None:
    """asyncpg's pool started a task (`asyncio.shield`) and a timer per release: the cost of a whole statement."""
    db = await _database(postgres_url)
    try:
        assert [row.name for row in await db.reader.rows(ITEMS, {"name": "a"})] == ["a"]
        loop = asyncio.get_running_loop()
        started: list[Any] = []
        factory = loop.get_task_factory()

        def counting(loop: asyncio.AbstractEventLoop, coroutine: Any, **kwargs: Any) -> asyncio.Future[Any]:
            started.append(coroutine)
            return factory(loop, coroutine, **kwargs) if factory else asyncio.Task(coroutine, loop=loop, **kwargs)

        loop.set_task_factory(counting)
        try:
            for name in ["a", "b"] * 10:
                assert len(await db.reader.rows(ITEMS, {"name": name})) == (name == "a")
        finally:
            loop.set_task_factory(factory)
        assert started == []

        pool = db.reader._pool
        assert pool is not None and pool.get_size() == 1
        sql = CompiledRead(ITEMS, db.engine.dialect).sql

        def prepared(connection: asyncpg.Connection) -> list[str]:  # asyncpg's statement cache: the names of sql's
            return [state.name for state in connection._stmt_cache.iter_statements() if state.query == sql]

        connection = await pool.acquire()
        names = prepared(connection)
        pool.release(connection)
        assert len(names) == 1 and names[0]  # a named statement, prepared once, used by every read since
        await db.reader.rows(ITEMS, {"name": "a"})
        assert prepared(connection) == names and pool.get_size() == 1
    finally:
        await db.dispose()


async def test_reads_beyond_the_pool_size_wait_for_a_released_connection(postgres_url: str) -> None:
    db = await _database(postgres_url)
    try:
        pool = await reads._postgres_pool(db.engine)
        held = [await pool.acquire() for _ in range(reads.READ_POOL_SIZE)]
        assert pool.get_size() == reads.READ_POOL_SIZE
        waiting = asyncio.ensure_future(pool.acquire())
        cancelled = asyncio.ensure_future(pool.acquire())
        await asyncio.sleep(0)
        assert not waiting.done() and not cancelled.done()
        cancelled.cancel()  # a read given up while waiting takes no connection with it
        await asyncio.gather(cancelled, return_exceptions=True)

        pool.release(held[0])
        assert await waiting is held[0]  # handed over as it was released, no other one opened

        given_up = asyncio.ensure_future(pool.acquire())
        await asyncio.sleep(0)
        given_up.cancel()  # and a connection released before that read has seen it was cancelled: kept idle
        pool.release(waiting.result())
        await asyncio.gather(given_up, return_exceptions=True)
        assert given_up.cancelled() and await pool.acquire() is held[0]
        again = asyncio.ensure_future(pool.acquire())
        await asyncio.sleep(0)
        assert not again.done()
        pool.release(held[1], reusable=False)  # e.g. its read was cancelled mid-statement
        assert held[1].is_closed()
        fresh = await again  # the waiting read opened a connection in the place of the one terminated
        assert fresh not in held and await fresh.fetchval("SELECT 1") == 1
        assert pool.get_size() == reads.READ_POOL_SIZE
        in_use = held[2:]
        pool.release(waiting.result())
        pool.release(fresh)
        await pool.close()  # the idle ones now, the ones in use when released
        assert pool.get_size() == len(in_use) and not any(connection.is_closed() for connection in in_use)
        for connection in in_use:
            pool.release(connection)
        assert pool.get_size() == 0 and all(connection.is_closed() for connection in [*held, fresh])
    finally:
        await db.dispose()


async def test_a_server_error_keeps_the_connection_and_a_cancelled_read_ends_it(postgres_url: str) -> None:
    db = await _database(postgres_url)
    try:
        pid = (await db.reader.first(PID, {})).pid
        with pytest.raises(asyncpg.exceptions.DivisionByZeroError):
            await db.reader.rows(DIVIDED, {"by": 0})
        assert (await db.reader.first(PID, {})).pid == pid  # ready for the next statement: kept

        read = asyncio.ensure_future(db.reader.rows(SLEEP, {"seconds": 30}))
        async with db.session() as session:
            for _ in range(500):  # until the server runs it
                running = await session.execute(
                    text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid AND query LIKE '%pg_sleep%'"),
                    {"pid": pid},
                )
                if running.scalar_one():
                    break
                await asyncio.sleep(0.02)
        read.cancel()
        await asyncio.gather(read, return_exceptions=True)
        assert read.cancelled()
        # The connection was mid-statement: never handed out again; the next read opens another.
        assert (await db.reader.first(PID, {})).pid != pid
        assert db.reader._pool is not None and db.reader._pool.get_size() == 1
    finally:
        await db.dispose()


async def test_a_connection_idle_too_long_is_closed_when_another_is_released(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = await _database(postgres_url)
    try:
        pool = await reads._postgres_pool(db.engine)
        first, second = await pool.acquire(), await pool.acquire()
        pool.release(first)
        monkeypatch.setattr(pool, "IDLE_SECONDS", -1.0)  # whatever has been idle at all is idle too long
        pool.release(second)
        await asyncio.gather(*pool._closing)
        assert first.is_closed() and not second.is_closed() and pool.get_size() == 1
        assert await pool.acquire() is second
        pool.release(second)
        await pool.close()
        assert second.is_closed()
    finally:
        await db.dispose()
