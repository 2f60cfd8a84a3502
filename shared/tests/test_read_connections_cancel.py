"""The read pool on PostgreSQL when a statement fails or its read is cancelled: a connection is never reused while
its statement runs, and no more statements run on the server than the pool's size."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from read_pool_helpers import ChangedProtocol
from sqlalchemy import bindparam, func, literal, select, text

from slm_shared import read_connections, reads
from slm_shared.db import Database

PID = select(func.pg_backend_pid().label("pid"))
SLEEP = select(func.pg_sleep(bindparam("seconds")).label("slept"))
DIVIDED = select((literal(1) / bindparam("by")).label("quotient"))


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
    waits_on_the_protocol: bool, items_db: Database
) -> None:
    pid = (await items_db.reader.first(PID, {})).pid
    with pytest.raises(asyncpg.exceptions.DivisionByZeroError):
        await items_db.reader.rows(DIVIDED, {"by": 0})
    assert (await items_db.reader.first(PID, {})).pid == pid  # ready for the next statement: kept

    read = asyncio.ensure_future(items_db.reader.rows(SLEEP, {"seconds": 30}))
    async with items_db.session() as session:
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
    pool = items_db.reader._pool
    assert pool is not None and pool.get_size() == 1  # still counted while the server stops the statement
    assert pool._waits_on_the_protocol is waits_on_the_protocol
    await asyncio.gather(*pool._settling)
    async with items_db.session() as session:
        state = await session.execute(text("SELECT state FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid})
        assert state.scalar_one() == "idle"  # the server stopped the statement: none left running
    # Back once the server acknowledged the cancel: the next read runs on it, no other one opened.
    assert (await items_db.reader.first(PID, {})).pid == pid
    assert pool.get_size() == 1


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
    monkeypatch: pytest.MonkeyPatch, waits_on_the_protocol: bool, items_db: Database
) -> None:
    """Reads cancelled mid-statement (a request's timeout) never leave statements running beside new connections."""
    monkeypatch.setattr(reads, "READ_POOL_SIZE", 2)
    await asyncio.gather(*(items_db.reader.first(SLEEP, {"seconds": 0.1}) for _ in range(2)))
    pool = items_db.reader._pool
    assert pool is not None and pool.get_size() == 2 and pool._waits_on_the_protocol is waits_on_the_protocol
    held = [await pool.acquire(), await pool.acquire()]
    pids = {connection.get_server_pid() for connection in held}
    for connection in held:
        pool.release(connection)
    sleeping = [asyncio.ensure_future(items_db.reader.rows(SLEEP, {"seconds": 20})) for _ in range(2)]
    await _running(items_db, pids)
    for read in sleeping:
        read.cancel()
    await asyncio.gather(*sleeping, return_exceptions=True)
    after = asyncio.gather(*(items_db.reader.first(PID, {}) for _ in range(4)))  # while the cancels are acknowledged
    await asyncio.sleep(0)
    assert pool.get_size() == 2 and len(pool._settling) == 2  # no connection opened beside the settling ones
    again = {row.pid for row in await after}
    await asyncio.gather(*pool._settling)
    assert pool.get_size() == 2
    async with items_db.session() as session:
        states = await session.execute(
            text("SELECT pid, state FROM pg_stat_activity WHERE pid = ANY(:pids)"), {"pids": list(pids)}
        )
        assert sorted(state for _, state in states) == ["idle"] * len(pids)  # no statement left running
    assert again <= pids  # the reads after ran on the connections whose statements were cancelled


async def test_a_cancel_the_server_does_not_acknowledge_in_time_ends_the_connection(
    monkeypatch: pytest.MonkeyPatch, waits_on_the_protocol: bool, items_db: Database
) -> None:
    pid = (await items_db.reader.first(PID, {})).pid
    pool = items_db.reader._pool
    assert pool is not None and pool._waits_on_the_protocol is waits_on_the_protocol
    monkeypatch.setattr(pool, "CANCEL_SECONDS", 0.0)  # no acknowledgement is ever in time
    (idle, _), *_ = pool._idle  # the one the read runs on
    read = asyncio.ensure_future(items_db.reader.rows(SLEEP, {"seconds": 30}))
    await _running(items_db, {pid})
    read.cancel()
    await asyncio.gather(read, return_exceptions=True)
    await asyncio.gather(*pool._settling)
    assert idle.is_closed() and pool.get_size() == 0
    assert (await items_db.reader.first(PID, {})).pid != pid and pool.get_size() == 1
