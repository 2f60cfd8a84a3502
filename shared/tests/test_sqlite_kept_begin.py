"""On SQLite a transaction's BEGIN is kept and run in its first statement's hop; the transaction is the same as
when the BEGIN took a hop of its own (`slm_shared.sqlite_driver`)."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import OperationalError

from slm_shared.db import Database


@pytest.fixture
async def locked(tmp_path: Path) -> AsyncIterator[tuple[Database, sqlite3.Connection]]:
    """A database with a short busy timeout and a table `t`, and a second connection to it that holds the write
    lock (its BEGIN IMMEDIATE run)."""
    path = tmp_path / "locked.db"
    db = Database(f"sqlite+aiosqlite:///{path}")

    @event.listens_for(db.engine.sync_engine, "connect")
    def _busy_timeout(dbapi_connection: Any, _record: Any) -> None:  # after the engine's own PRAGMAs
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA busy_timeout=50")
        cursor.close()

    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        async with db.session() as session:
            await session.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER)"))
        other.execute("BEGIN IMMEDIATE")
        yield db, other
    finally:
        other.close()
        await db.dispose()


async def test_a_transactions_begin_takes_no_hop_and_the_write_lock_is_held_from_its_first_statement(
    tmp_path: Path, hops: list[str]
) -> None:
    """BEGIN IMMEDIATE runs in the first statement's hop; once that statement ran, no other connection can write
    until the commit, as when the BEGIN took a hop of its own."""
    path = tmp_path / "begin.db"
    db = Database(f"sqlite+aiosqlite:///{path}")
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        async with db.session() as session:
            await session.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER)"))
        hops.clear()
        async with db.session() as session:
            await session.execute(text("INSERT INTO t (n) VALUES (1)"))
            assert hops == ["_run('INSERT INTO t (n) VALUES (1)',)"]  # no hop for the BEGIN before it
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")  # the write lock is this transaction's
            assert other.execute("SELECT count(*) FROM t").fetchone() == (0,)  # not committed yet
        assert hops[1:] == ["commit()", "rollback()"]  # COMMIT, then the pool's rollback on return
        assert other.execute("SELECT count(*) FROM t").fetchone() == (1,)
        other.execute("BEGIN IMMEDIATE")  # free again once committed
        other.execute("ROLLBACK")
    finally:
        other.close()
        await db.dispose()


async def test_a_transaction_without_a_statement_takes_no_hop_and_the_next_one_begins_afresh(
    tmp_path: Path, hops: list[str]
) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}")
    try:
        async with db.session() as session:
            await session.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER)"))
        hops.clear()
        async with db.session() as session:
            await session.connection()  # BEGIN IMMEDIATE issued, kept: no statement follows
        with pytest.raises(RuntimeError):
            async with db.session() as session:
                await session.connection()
                raise RuntimeError("rolled back before any statement")
        assert hops == ["rollback()", "rollback()"], "\n".join(hops)  # only the pool's reset on each return
        async with db.session() as session:  # its own BEGIN, with its first statement; committed
            await session.execute(text("INSERT INTO t (n) VALUES (1)"))
        async with db.session(read_only=True) as session:
            assert (await session.execute(text("SELECT count(*) FROM t"))).scalar_one() == 1
    finally:
        await db.dispose()


async def test_a_begin_that_cannot_have_the_write_lock_fails_its_first_statement_which_does_not_run(
    locked: tuple[Database, sqlite3.Connection],
) -> None:
    """Another connection holds the write lock past the busy timeout: the first statement raises SQLite's
    "database is locked", as the BEGIN did, nothing of it is written, and the connection serves the next one."""
    db, other = locked
    with pytest.raises(OperationalError, match="locked"):
        async with db.session() as session:
            await session.execute(text("INSERT INTO t (n) VALUES (1)"))
    other.execute("ROLLBACK")
    async with db.session() as session:
        await session.execute(text("INSERT INTO t (n) VALUES (2)"))
    assert other.execute("SELECT n FROM t").fetchall() == [(2,)]


async def test_after_a_first_statement_failed_on_the_lock_the_transaction_still_begins_and_rolls_back(
    locked: tuple[Database, sqlite3.Connection],
) -> None:
    """The kept BEGIN IMMEDIATE cannot have the write lock: the first statement fails; a caller that catches that
    and goes on gets its next statements in a transaction (the BEGIN kept again), rolled back with the session,
    not written one by one in autocommit."""
    db, other = locked
    with pytest.raises(RuntimeError, match="after the lock"):
        async with db.session() as session:
            with pytest.raises(OperationalError, match="locked"):
                await session.execute(text("INSERT INTO t (n) VALUES (40)"))
            other.execute("ROLLBACK")
            await session.execute(text("INSERT INTO t (n) VALUES (41)"))
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")  # the write lock is the session's transaction's
            raise RuntimeError("rolled back after the lock came")
    assert other.execute("SELECT n FROM t").fetchall() == []


async def test_a_statement_streamed_on_a_connection_that_begins_implicitly_runs_in_its_transaction(
    tmp_path: Path,
) -> None:
    """SQLAlchemy creates the server-side cursor before the connection begins: the BEGIN kept then runs before the
    streamed statement, so a rollback takes the statement's write back."""
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'streamed.db'}")
    try:
        async with db.session() as session:
            await session.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER)"))
        async with db.engine.connect() as connection:
            result = await connection.stream(text("INSERT INTO t (n) VALUES (7) RETURNING n"))
            assert [n async for n in result.scalars()] == [7]
            assert connection.in_transaction()
            await connection.rollback()
        async with db.session(read_only=True) as session:
            assert (await session.execute(text("SELECT count(*) FROM t"))).scalar_one() == 0
    finally:
        await db.dispose()


async def test_a_begin_inside_a_transaction_fails_as_sqlites_own(tmp_path: Path) -> None:
    """A second BEGIN is not kept in place of the first (nor kept after a statement): it runs, and SQLite refuses
    it there and then; the transaction goes on and commits."""
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'twice.db'}")
    try:
        async with db.session() as session:
            await session.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER)"))
        async with db.engine.begin() as connection:  # its BEGIN IMMEDIATE kept, no statement yet
            with pytest.raises(OperationalError, match="within a transaction"):
                await connection.exec_driver_sql("BEGIN")
            await connection.exec_driver_sql("INSERT INTO t (n) VALUES (1)")
            with pytest.raises(OperationalError, match="within a transaction"):
                await connection.exec_driver_sql("BEGIN IMMEDIATE")
            await connection.exec_driver_sql("INSERT INTO t (n) VALUES (2)")
        async with db.session(read_only=True) as session:
            assert (await session.execute(text("SELECT n FROM t ORDER BY n"))).scalars().all() == [1, 2]
    finally:
        await db.dispose()
