"""The read pool on PostgreSQL: no task per statement, bounded, nothing lost, no connection reused unsafe."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest
from read_pool_helpers import ChangedProtocol, items_database
from sqlalchemy import bindparam, column, func, literal, select, table, text

from slm_shared import read_connections, reads
from slm_shared.db import Database
from slm_shared.read_statements import CompiledRead

ITEMS = select(column("name")).select_from(table("items")).where(column("name") == bindparam("name"))
PID = select(func.pg_backend_pid().label("pid"))
SLEEP = select(func.pg_sleep(bindparam("seconds")).label("slept"))
DIVIDED = select((literal(1) / bindparam("by")).label("quotient"))


async def test_a_read_prepares_its_statement_once_per_connection_and_starts_no_task(postgres_url: str) -> None:
    """asyncpg's pool started a task (`asyncio.shield`) and a timer per release: the cost of a whole statement."""
    db = await items_database(postgres_url)
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
    db = await items_database(postgres_url)
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
    finally:
        await db.dispose()


@pytest.fixture(params=["asyncpg as pinned", "asyncpg changed"])
def waits_on_the_protocol(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> bool:
    """Whether the pools this test opens wait for a cancel on asyncpg's protocol, or (a release that changed it,
    as `read_connections` sees it) on a statement of their own: either way a connection is never reused while its
    statement runs, and no more statements run on the server than the pool's size."""
    if request.param == "asyncpg changed":
        monkeypatch.setattr(read_connections, "_protocol_class", lambda: ChangedProtocol)
        monkeypatch.setattr(read_connections, "_WARNED", set())
        return False
    return True


async def test_a_server_error_keeps_the_connection_and_a_cancelled_read_ends_it(
    postgres_url: str, waits_on_the_protocol: bool
) -> None:
    db = await items_database(postgres_url)
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
        pool = db.reader._pool
        assert pool is not None and pool.get_size() == 1  # still counted while the server stops the statement
        assert pool._waits_on_the_protocol is waits_on_the_protocol
        await asyncio.gather(*pool._settling)
        async with db.session() as session:
            state = await session.execute(text("SELECT state FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid})
            assert state.scalar_one() == "idle"  # the server stopped the statement: none left running
        # Back once the server acknowledged the cancel: the next read runs on it, no other one opened.
        assert (await db.reader.first(PID, {})).pid == pid
        assert pool.get_size() == 1
    finally:
        await db.dispose()


async def _running(db: Database, pids: set[int]) -> None:
    async with db.session() as session:
        for _ in range(500):  # until the server runs them
            running = await session.execute(
                text("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(:pids) AND query LIKE '%pg_sleep%'"),
                {"pids": list(pids)},
            )
            if running.scalar_one() == len(pids):
                return
            await asyncio.sleep(0.02)


async def test_cancelled_reads_keep_the_server_within_the_pool_size(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch, waits_on_the_protocol: bool
) -> None:
    """Reads cancelled mid-statement (a request's timeout) never leave statements running beside new connections."""
    monkeypatch.setattr(reads, "READ_POOL_SIZE", 2)
    db = await items_database(postgres_url)
    try:
        await asyncio.gather(*(db.reader.first(SLEEP, {"seconds": 0.1}) for _ in range(2)))
        pool = db.reader._pool
        assert pool is not None and pool.get_size() == 2 and pool._waits_on_the_protocol is waits_on_the_protocol
        held = [await pool.acquire(), await pool.acquire()]
        pids = {connection.get_server_pid() for connection in held}
        for connection in held:
            pool.release(connection)
        sleeping = [asyncio.ensure_future(db.reader.rows(SLEEP, {"seconds": 20})) for _ in range(2)]
        await _running(db, pids)
        for read in sleeping:
            read.cancel()
        await asyncio.gather(*sleeping, return_exceptions=True)
        after = asyncio.gather(*(db.reader.first(PID, {}) for _ in range(4)))  # while the cancels are acknowledged
        await asyncio.sleep(0)
        assert pool.get_size() == 2 and len(pool._settling) == 2  # no connection opened beside the settling ones
        again = {row.pid for row in await after}
        await asyncio.gather(*pool._settling)
        assert pool.get_size() == 2
        async with db.session() as session:
            states = await session.execute(
                text("SELECT pid, state FROM pg_stat_activity WHERE pid = ANY(:pids)"), {"pids": list(pids)}
            )
            assert sorted(state for _, state in states) == ["idle"] * len(pids)  # no statement left running
        assert again <= pids  # the reads after ran on the connections whose statements were cancelled
    finally:
        await db.dispose()


async def test_a_cancel_the_server_does_not_acknowledge_in_time_ends_the_connection(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch, waits_on_the_protocol: bool
) -> None:
    db = await items_database(postgres_url)
    try:
        pid = (await db.reader.first(PID, {})).pid
        pool = db.reader._pool
        assert pool is not None and pool._waits_on_the_protocol is waits_on_the_protocol
        monkeypatch.setattr(pool, "CANCEL_SECONDS", 0.0)  # no acknowledgement is ever in time
        (idle, _), *_ = pool._idle  # the one the read runs on
        read = asyncio.ensure_future(db.reader.rows(SLEEP, {"seconds": 30}))
        await _running(db, {pid})
        read.cancel()
        await asyncio.gather(read, return_exceptions=True)
        await asyncio.gather(*pool._settling)
        assert idle.is_closed() and pool.get_size() == 0
        assert (await db.reader.first(PID, {})).pid != pid and pool.get_size() == 1
    finally:
        await db.dispose()


async def test_a_connection_idle_too_long_is_closed_when_another_is_released(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = await items_database(postgres_url)
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


async def test_reads_waiting_when_the_pool_closes_fail_and_open_nothing(postgres_url: str) -> None:
    db = await items_database(postgres_url)
    try:
        pool = await reads._postgres_pool(db.engine)
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

        pool = await reads._postgres_pool(db.engine)
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
    finally:
        await db.dispose()


async def test_a_read_after_the_reader_closes_fails_and_opens_no_pool(postgres_url: str) -> None:
    """It opened a new pool, which nothing closed: its connections left open until the process ended."""
    db = await items_database(postgres_url)
    try:
        assert len(await db.reader.rows(ITEMS, {"name": "a"})) == 1
        await db.reader.close()
        with pytest.raises(asyncpg.exceptions.InterfaceError):
            await db.reader.rows(ITEMS, {"name": "a"})
        assert db.reader._pool is None and db.reader._pool_opening is None
    finally:
        await db.dispose()


async def test_a_read_cancelled_while_connecting_or_handed_a_place_frees_it(postgres_url: str) -> None:
    """A cancel is no `Exception`: a place must be given back on any exit, or the pool shrinks for good."""
    db = await items_database(postgres_url)
    try:
        real = await reads._postgres_pool(db.engine)
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
    finally:
        await db.dispose()


async def test_a_connection_older_than_the_max_age_is_closed_when_released(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = await items_database(postgres_url)
    try:
        pool = await reads._postgres_pool(db.engine)
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
    finally:
        await db.dispose()
