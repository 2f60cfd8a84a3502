"""A statement on SQLite takes one hop to aiosqlite's thread, and behaves as with SQLAlchemy's own adaptation."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import bindparam, event, text
from sqlalchemy.dialects.sqlite import aiosqlite as stock
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from slm_shared import sqlite_driver
from slm_shared.db import Database, create_engine


async def test_a_statement_is_one_hop_and_reads_writes_and_errors_are_as_before(
    tmp_path: Path, hops: list[str]
) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'hops.db'}")
    try:
        async with db.session() as session:
            await session.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER UNIQUE, s TEXT)"))
        hops.clear()
        async with db.session() as session:
            inserted = await session.execute(text("INSERT INTO t (n, s) VALUES (1, 'a') RETURNING id"))
            assert inserted.scalar_one() == 1
            many = await session.execute(
                text("INSERT INTO t (n, s) VALUES (:n, :s)"), [{"n": n, "s": f"s{n}"} for n in range(2, 6)]
            )
            assert many.rowcount == 4
            updated = await session.execute(text("UPDATE t SET s = 'b' WHERE n <= 3"))
            assert updated.rowcount == 3
            found = await session.execute(
                text("SELECT n, s FROM t WHERE n IN :ns ORDER BY n").bindparams(bindparam("ns", expanding=True)),
                {"ns": [1, 4, 9]},
            )
            assert [tuple(row) for row in found] == [(1, "b"), (4, "s4")]
            assert list(found.keys()) == ["n", "s"]
            nothing = await session.execute(text("SELECT n FROM t WHERE n > 100"))
            assert nothing.all() == []
        # five statements (BEGIN IMMEDIATE in the first one's hop), COMMIT and the pool's rollback on return: one hop
        # each (SQLAlchemy's adaptation took three or four per statement: cursor, execute, fetch, close)
        assert len(hops) == 7, "\n".join(hops)

        with pytest.raises(IntegrityError):
            async with db.session() as session:
                await session.execute(text("INSERT INTO t (n, s) VALUES (1, 'again')"))
        async with db.session() as session:  # rolled back, the connection still good
            assert (await session.execute(text("SELECT count(*) FROM t"))).scalar_one() == 5
    finally:
        await db.dispose()


def _engine(path: Path, *, one_hop: bool, **kwargs: Any) -> AsyncEngine:
    """An engine as the services make it (`create_engine`), on this module or on SQLAlchemy's own adaptation."""
    if not one_hop:
        kwargs["module"] = stock.AsyncAdapt_aiosqlite_dbapi(aiosqlite, sqlite3)
    engine = create_engine(f"sqlite+aiosqlite:///{path}", **kwargs)
    assert (type(engine.dialect.dbapi).__name__ == "OneHopDBAPI") is one_hop
    return engine


async def _both(tmp_path: Path, scenario: Callable[[AsyncEngine], Awaitable[Any]], **kwargs: Any) -> Any:
    """The scenario's observations on this module, checked equal to those on SQLAlchemy's own adaptation."""
    seen = []
    for one_hop in (True, False):
        engine = _engine(tmp_path / f"{one_hop}.db", one_hop=one_hop, **kwargs)
        try:
            async with engine.begin() as connection:
                await connection.exec_driver_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER UNIQUE)")
            seen.append(await scenario(engine))
        finally:
            await engine.dispose()
    assert seen[0] == seen[1], "one hop vs SQLAlchemy's own adaptation"
    return seen[0]


@pytest.mark.parametrize("pre_ping", [False, True])
async def test_a_closed_driver_connection_is_a_disconnect_and_the_next_checkout_a_fresh_connection(
    tmp_path: Path, pre_ping: bool
) -> None:
    """A connection closed under SQLAlchemy is taken for a disconnect (what retries on a fresh connection look
    for), as with SQLAlchemy's own adaptation, not a bare ValueError; with the pool's pre-ping it is replaced
    at checkout without an error at all."""

    async def closed(engine: AsyncEngine) -> Any:
        async with engine.connect() as connection:
            driver = (await connection.get_raw_connection()).driver_connection
            assert driver is not None
            if pre_ping:  # closed while idle in the pool: the checkout's ping finds it
                await connection.commit()
            else:
                await driver.close()
                with pytest.raises(OperationalError, match="no active connection") as raised:
                    await connection.exec_driver_sql("SELECT 1")
                assert raised.value.connection_invalidated
                await connection.invalidate()
        if pre_ping:
            await driver.close()
        async with engine.connect() as connection:
            assert (await connection.exec_driver_sql("SELECT 1")).scalar_one() == 1
            fresh = (await connection.get_raw_connection()).driver_connection
        assert fresh is not driver
        return engine.pool.checkedout()

    assert await _both(tmp_path, closed, pool_pre_ping=pre_ping) == 0


async def test_executemany_and_single_statements_give_the_row_counts_and_ids_sqlalchemy_gives(tmp_path: Path) -> None:
    async def counts(engine: AsyncEngine) -> list[Any]:
        seen: list[Any] = []
        async with engine.begin() as connection:
            returning = await connection.exec_driver_sql("INSERT INTO t (n) VALUES (?) RETURNING id", [(1,), (2,)])
            seen.append((returning.rowcount, returning.returns_rows))
            many = await connection.exec_driver_sql("INSERT INTO t (n) VALUES (?)", [(3,), (4,)])
            seen.append((many.rowcount, many.returns_rows))
            one = await connection.exec_driver_sql("INSERT INTO t (n) VALUES (5)")
            seen.append((one.rowcount, one.lastrowid))
            none = await connection.exec_driver_sql("DELETE FROM t WHERE n > 100")
            seen.append((none.rowcount, none.returns_rows))
            seen.append((await connection.exec_driver_sql("SELECT n FROM t ORDER BY n")).scalars().all())
        return seen

    # executemany keeps no rows, RETURNING or not: its row count is what the driver says (0 with RETURNING)
    assert await _both(tmp_path, counts) == [(0, False), (2, False), (1, 5), (0, False), [1, 2, 3, 4, 5]]


async def test_a_savepoint_rolled_back_or_released_behaves_as_sqlalchemys_own(tmp_path: Path) -> None:
    async def nested(engine: AsyncEngine) -> list[int]:
        async with engine.begin() as connection:
            await connection.exec_driver_sql("INSERT INTO t (n) VALUES (1)")
            savepoint = await connection.begin_nested()
            await connection.exec_driver_sql("INSERT INTO t (n) VALUES (2)")
            await savepoint.rollback()
            async with connection.begin_nested():  # released
                await connection.exec_driver_sql("INSERT INTO t (n) VALUES (3)")
            with pytest.raises(IntegrityError):
                async with connection.begin_nested():  # rolled back by the error, the transaction goes on
                    await connection.exec_driver_sql("INSERT INTO t (n) VALUES (3)")
        async with engine.connect() as connection:
            return list((await connection.exec_driver_sql("SELECT n FROM t ORDER BY n")).scalars())

    assert await _both(tmp_path, nested) == [1, 3]


async def test_a_task_cancelled_during_a_statement_leaves_the_write_rolled_back_and_the_pool_healthy(
    tmp_path: Path,
) -> None:
    """The cursor is closed on the driver's thread in the statement's own hop, so the connection SQLAlchemy
    closes on the cancellation really closes, and its write lock goes with it. (With SQLAlchemy's own
    adaptation, whose cursor was still open, the next write transaction found the database locked.)"""
    engine = _engine(tmp_path / "cancelled.db", one_hop=True)
    started, release = threading.Event(), threading.Event()

    def pause(value: int) -> int:  # runs on the driver's thread, inside the statement
        started.set()
        release.wait(30)
        return value

    @event.listens_for(engine.sync_engine, "connect")
    def _functions(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.create_function("pause", 1, pause)

    async def write() -> None:
        async with engine.begin() as connection:
            await connection.exec_driver_sql("INSERT INTO t (n) VALUES (77)")
            await connection.exec_driver_sql("SELECT pause(1)")

    try:
        async with engine.begin() as connection:
            await connection.exec_driver_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER UNIQUE)")
        task = asyncio.create_task(write())
        assert await asyncio.to_thread(started.wait, 30)  # the statement is running on the driver's thread
        task.cancel()
        release.set()
        with pytest.raises(asyncio.CancelledError):
            await task
        async with engine.begin() as connection:  # a write transaction again: the write lock was let go
            await connection.exec_driver_sql("INSERT INTO t (n) VALUES (78)")
        async with engine.connect() as connection:
            assert list((await connection.exec_driver_sql("SELECT n FROM t ORDER BY n")).scalars()) == [78]
        assert engine.pool.checkedout() == 0
    finally:
        release.set()
        await engine.dispose()


async def test_a_server_side_cursor_streams_every_row(tmp_path: Path) -> None:
    async def streamed(engine: AsyncEngine) -> Any:
        cursors: list[bool] = []

        @event.listens_for(engine.sync_engine, "before_cursor_execute")
        def _cursor(_connection: Any, cursor: Any, *_args: Any) -> None:
            cursors.append(cursor.server_side)

        async with engine.begin() as connection:
            await connection.exec_driver_sql("INSERT INTO t (n) VALUES (?)", [(n,) for n in range(250)])
        async with engine.connect() as connection:
            cursors.clear()
            result = await connection.stream(text("SELECT n FROM t ORDER BY n"))
            assert cursors[-1] is True  # the SELECT on SQLAlchemy's own server-side cursor (the kept BEGIN run first)
            everything = [n async for n in result.scalars()]
            result = await connection.stream(text("SELECT n FROM t ORDER BY n"), execution_options={"yield_per": 100})
            partitions = [len(partition) async for partition in result.scalars().partitions(100)]
        return everything == list(range(250)), partitions

    assert await _both(tmp_path, streamed) == (True, [100, 100, 50])


def test_what_the_module_relies_on_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    assert sqlite_driver.unsupported() is None  # the installed aiosqlite and SQLAlchemy
    with monkeypatch.context() as patched:
        patched.delattr(aiosqlite.Connection, "_execute")
        assert "_execute" in (sqlite_driver.unsupported() or "")
    with monkeypatch.context() as patched:
        patched.setattr(aiosqlite.Connection, "_conn", None)
        assert "_conn" in (sqlite_driver.unsupported() or "")
    with monkeypatch.context() as patched:
        patched.delattr(stock, "AsyncAdapt_aiosqlite_cursor")
        assert "AsyncAdapt_aiosqlite_cursor is gone" in (sqlite_driver.unsupported() or "")
    with monkeypatch.context() as patched:
        patched.delattr(stock.AsyncAdapt_aiosqlite_connection, "_handle_exception")
        assert "_handle_exception" in (sqlite_driver.unsupported() or "")
    with monkeypatch.context() as patched:
        patched.delattr(stock, "AsyncAdapt_aiosqlite_ss_cursor")
        assert "AsyncAdapt_aiosqlite_ss_cursor is gone" in (sqlite_driver.unsupported() or "")
    with monkeypatch.context() as patched:  # a slot renamed
        slots = tuple(slot for slot in stock.AsyncAdapt_aiosqlite_cursor.__slots__ if slot != "_rows")
        patched.setattr(stock.AsyncAdapt_aiosqlite_cursor, "__slots__", slots)
        assert "_rows" in (sqlite_driver.unsupported() or "")
    assert sqlite_driver.unsupported() is None


async def test_on_a_changed_release_statements_take_sqlalchemys_own_adaptation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hops: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(sqlite_driver, "unsupported", lambda: "aiosqlite.Connection._execute is gone")
    with caplog.at_level(logging.WARNING, logger=sqlite_driver.__name__):
        engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'stock.db'}")
    assert "aiosqlite.Connection._execute is gone" in caplog.text
    assert type(engine.dialect.dbapi) is stock.AsyncAdapt_aiosqlite_dbapi
    try:
        async with engine.connect() as connection:
            hops.clear()
            assert (await connection.exec_driver_sql("SELECT 41 + 1")).scalar_one() == 42
            assert len(hops) > 1, hops  # SQLAlchemy's own: cursor, execute, fetch, close
            assert type(connection.sync_connection.connection.dbapi_connection).__name__ == (  # type: ignore[union-attr]
                "AsyncAdapt_aiosqlite_connection"
            )
    finally:
        await engine.dispose()
