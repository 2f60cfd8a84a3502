"""The read pool on PostgreSQL: no task per statement, bounded, nothing lost, no connection reused unsafe (its
cancelled statements: test_read_connections_cancel.py)."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest
from sqlalchemy import bindparam, column, select, table

from slm_shared import reads
from slm_shared.db import Database
from slm_shared.read_statements import CompiledRead

ITEMS = select(column("name")).select_from(table("items")).where(column("name") == bindparam("name"))


async def test_a_read_prepares_its_statement_once_per_connection_and_starts_no_task(items_db: Database) -> None:
    """asyncpg's pool started a task (`asyncio.shield`) and a timer per release: the cost of a whole statement."""
    assert [row.name for row in await items_db.reader.rows(ITEMS, {"name": "a"})] == ["a"]
    loop = asyncio.get_running_loop()
    started: list[Any] = []
    factory = loop.get_task_factory()

    def counting(loop: asyncio.AbstractEventLoop, coroutine: Any, **kwargs: Any) -> asyncio.Future[Any]:
        started.append(coroutine)
        return factory(loop, coroutine, **kwargs) if factory else asyncio.Task(coroutine, loop=loop, **kwargs)

    loop.set_task_factory(counting)
    try:
        for name in ["a", "b"] * 10:
            assert len(await items_db.reader.rows(ITEMS, {"name": name})) == (name == "a")
    finally:
        loop.set_task_factory(factory)
    assert started == []

    pool = items_db.reader._pool
    assert pool is not None and pool.get_size() == 1
    sql = CompiledRead(ITEMS, items_db.engine.dialect).sql

    def prepared(connection: asyncpg.Connection) -> list[str]:  # asyncpg's statement cache: the names of sql's
        return [state.name for state in connection._stmt_cache.iter_statements() if state.query == sql]

    connection = await pool.acquire()
    names = prepared(connection)
    pool.release(connection)
    assert len(names) == 1 and names[0]  # a named statement, prepared once, used by every read since
    await items_db.reader.rows(ITEMS, {"name": "a"})
    assert prepared(connection) == names and pool.get_size() == 1


async def test_reads_beyond_the_pool_size_wait_for_a_released_connection(items_db: Database) -> None:
    pool = await reads._postgres_pool(items_db.engine)
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
    pool.release(held[1], reusable=False)  # e.g. its connection was lost mid-statement
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


async def test_a_connection_idle_too_long_is_closed_when_another_is_released(
    monkeypatch: pytest.MonkeyPatch, items_db: Database
) -> None:
    pool = await reads._postgres_pool(items_db.engine)
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


async def test_reads_waiting_when_the_pool_closes_fail_and_open_nothing(items_db: Database) -> None:
    pool = await reads._postgres_pool(items_db.engine)
    held = [await pool.acquire() for _ in range(reads.READ_POOL_SIZE)]
    waiting = asyncio.ensure_future(pool.acquire())
    await asyncio.sleep(0)
    await pool.close()
    await asyncio.sleep(0)
    assert waiting.done()  # failed as the pool closed, not left waiting for a release
    with pytest.raises(asyncpg.exceptions.InterfaceError):
        await waiting
    pool.release(held[0])  # closed: terminated, not handed over
    assert held[0].is_closed() and pool.get_size() == reads.READ_POOL_SIZE - 1  # nothing opened
    for connection in held[1:]:
        pool.release(connection)
    assert pool.get_size() == 0

    pool = await reads._postgres_pool(items_db.engine)
    held = [await pool.acquire() for _ in range(reads.READ_POOL_SIZE)]
    waiting = asyncio.ensure_future(pool.acquire())
    await asyncio.sleep(0)
    pool.release(held[0], reusable=False)  # the waiting read is handed the place to open one in...
    pool.terminate()  # ...and the pool is shut down before it has seen it: it gives the place back
    with pytest.raises(asyncpg.exceptions.InterfaceError):
        await waiting
    assert pool.get_size() == reads.READ_POOL_SIZE - 1
    for connection in held[1:]:
        pool.release(connection)
    assert pool.get_size() == 0 and all(connection.is_closed() for connection in held)


async def test_a_read_after_the_reader_closes_fails_and_opens_no_pool(items_db: Database) -> None:
    """It opened a new pool, which nothing closed: its connections left open until the process ended."""
    assert len(await items_db.reader.rows(ITEMS, {"name": "a"})) == 1
    await items_db.reader.close()
    with pytest.raises(asyncpg.exceptions.InterfaceError):
        await items_db.reader.rows(ITEMS, {"name": "a"})
    assert items_db.reader._pool is None and items_db.reader._pool_opening is None


async def test_a_read_cancelled_while_connecting_or_handed_a_place_frees_it(items_db: Database) -> None:
    """A cancel is no `Exception`: a place must be given back on any exit, or the pool shrinks for good."""
    real = await reads._postgres_pool(items_db.engine)
    gate = asyncio.Event()
    connecting = 0

    async def connect() -> asyncpg.Connection:
        nonlocal connecting
        connecting += 1
        await gate.wait()
        return await real._connect()

    pool = reads.ReadConnections(connect, 1)
    alone = asyncio.ensure_future(pool.acquire())
    await asyncio.sleep(0)
    assert connecting == 1 and pool.get_size() == 1
    alone.cancel()  # mid-connect, with no read waiting: the place is given back
    await asyncio.gather(alone, return_exceptions=True)
    assert alone.cancelled() and pool.get_size() == 0

    opening = asyncio.ensure_future(pool.acquire())
    waiting = asyncio.ensure_future(pool.acquire())
    await asyncio.sleep(0)
    assert connecting == 2 and pool.get_size() == 1 and not waiting.done()
    opening.cancel()  # mid-connect
    await asyncio.gather(opening, return_exceptions=True)
    assert opening.cancelled() and connecting == 3  # the place freed went to the read waiting: it connects
    gate.set()
    connection = await waiting
    assert pool.get_size() == 1 and await connection.fetchval("SELECT 1") == 1

    handed = asyncio.ensure_future(pool.acquire())
    behind = asyncio.ensure_future(pool.acquire())
    await asyncio.sleep(0)
    pool.release(connection, reusable=False)  # `handed` is given the place to open one in...
    handed.cancel()  # ...and cancelled before it has seen it: the place goes on to the next read
    await asyncio.gather(handed, return_exceptions=True)
    assert handed.cancelled() and connecting == 4  # the read behind it is connecting
    fresh = await behind
    assert fresh is not connection and pool.get_size() == 1

    alone = asyncio.ensure_future(pool.acquire())
    await asyncio.sleep(0)
    assert not alone.done()
    pool.release(fresh, reusable=False)
    alone.cancel()  # handed the place with no read behind it: the place is given back, none counted
    await asyncio.gather(alone, return_exceptions=True)
    assert alone.cancelled() and pool.get_size() == 0
    await pool.close()
    await real.close()


async def test_a_connection_older_than_the_max_age_is_closed_when_released(
    monkeypatch: pytest.MonkeyPatch, items_db: Database
) -> None:
    pool = await reads._postgres_pool(items_db.engine)
    old = await pool.acquire()
    pool.release(old)
    assert await pool.acquire() is old  # young enough: kept
    monkeypatch.setattr(pool, "MAX_AGE_SECONDS", -1.0)  # whatever is open at all is too old
    waiting = asyncio.ensure_future(pool.acquire())
    pool.release(old)
    await asyncio.gather(*pool._closing)
    assert old.is_closed() and pool.get_size() == 1
    fresh = await waiting  # not handed the old one: a new one in its place
    assert fresh is not old and await fresh.fetchval("SELECT 1") == 1
    pool.release(fresh)  # too old as well, with none waiting: closed, its place given back
    await asyncio.gather(*pool._closing)
    assert fresh.is_closed() and pool.get_size() == 0 and not pool._idle
    await pool.close()
