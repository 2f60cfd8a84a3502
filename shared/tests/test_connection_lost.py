"""One meaning of "connection lost" (`slm_shared.db.connection_lost`), on real asyncpg errors from a real server.

The pool's check replaces a connection only when it was lost; the measurement ingest retries a batch only when
its COMMIT was refused, which a lost connection is not (services/measurement/tests/test_ingest_statements.py).
"""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest
from sqlalchemy import column, select, table, text
from sqlalchemy.exc import DBAPIError, DisconnectionError

from slm_shared.db import Database, _ping_on_checkout, connection_lost


async def _raw(postgres_url: str) -> asyncpg.Connection:
    return await asyncpg.connect(postgres_url.replace("postgresql+asyncpg", "postgresql"))


async def test_a_cancelled_commit_was_rolled_back_and_statement_timeout_cancels_no_commit(postgres_url: str) -> None:
    """The decision on 57014: PostgreSQL cancels a COMMIT only before it commits (here in a deferred trigger).

    statement_timeout never cancels one: the server stops its timer before it commits (the trigger outlives it).
    """
    db = Database(postgres_url)
    try:
        async with db.engine.connect() as connection:
            await connection.execute(text("CREATE TABLE kept (id int)"))
            await connection.execute(
                text(
                    "CREATE FUNCTION slow() RETURNS trigger LANGUAGE plpgsql AS"
                    " $$ BEGIN PERFORM pg_sleep(current_setting('slow.seconds')::float); RETURN NULL; END $$"
                )
            )
            await connection.execute(
                text(
                    "CREATE CONSTRAINT TRIGGER slow AFTER INSERT ON kept DEFERRABLE INITIALLY DEFERRED"
                    " FOR EACH ROW EXECUTE FUNCTION slow()"
                )
            )
            await connection.commit()
        async with db.engine.connect() as connection:
            await connection.execute(text("INSERT INTO kept VALUES (1)"))
            await connection.execute(text("SET LOCAL slow.seconds = '0.5'"))
            await connection.execute(text("SET LOCAL statement_timeout = '50ms'"))
            await connection.commit()  # not cancelled

        async with db.engine.connect() as connection, db.engine.connect() as other:
            pid = await connection.scalar(text("SELECT pg_backend_pid()"))
            await connection.execute(text("INSERT INTO kept VALUES (2)"))
            await connection.execute(text("SET LOCAL slow.seconds = '30'"))
            committing = asyncio.create_task(connection.commit())
            await other.execution_options(isolation_level="AUTOCOMMIT")
            busy = text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid AND wait_event = 'PgSleep'")
            while not await other.scalar(busy, {"pid": pid}):
                await asyncio.sleep(0.01)
            await other.execute(text("SELECT pg_cancel_backend(:pid)"), {"pid": pid})
            with pytest.raises(DBAPIError) as cancelled:
                await committing
        assert cancelled.value.orig.sqlstate == "57014"  # type: ignore[union-attr]
        assert not connection_lost(cancelled.value)
        async with db.engine.connect() as connection:
            assert list(await connection.scalars(text("SELECT id FROM kept"))) == [1]
    finally:
        await db.dispose()


async def test_a_cancelled_statement_is_no_lost_connection_and_a_terminated_session_is(postgres_url: str) -> None:
    connection, other = await _raw(postgres_url), await _raw(postgres_url)
    try:
        with pytest.raises(asyncpg.QueryCanceledError) as cancelled:
            await connection.execute("SET statement_timeout = '50ms'; SELECT pg_sleep(30)")
        assert not connection_lost(cancelled.value)
        assert await connection.fetchval("SELECT 1") == 1  # the session lives on

        waiting = asyncio.create_task(connection.execute("SELECT pg_sleep(30)"))
        await asyncio.sleep(0.2)
        await other.execute("SELECT pg_terminate_backend($1)", connection.get_server_pid())
        with pytest.raises(Exception) as terminated:  # 57P01, or the closed socket, whichever asyncpg reads first
            await waiting
        assert connection_lost(terminated.value), repr(terminated.value)
        with pytest.raises(asyncpg.InterfaceError) as closed:
            await connection.execute("SELECT 1")
        assert connection_lost(closed.value)
        assert connection_lost(ConnectionResetError())
    finally:
        await other.close()
        connection.terminate()


async def test_a_pooled_session_the_server_ended_for_idling_is_replaced_on_checkout(postgres_url: str) -> None:
    """57P05 (idle_session_timeout): the server's termination notice is the check's reply."""
    db = Database(postgres_url, pool_size=1, max_overflow=0)
    try:
        async with db.engine.connect() as connection:
            pid = await connection.scalar(text("SELECT pg_backend_pid()"))
            await connection.execute(text("SET idle_session_timeout = '100ms'"))
            await connection.commit()
        await asyncio.sleep(0.5)
        async with db.session() as session:
            assert await session.scalar(text("SELECT pg_backend_pid()")) != pid
    finally:
        await db.dispose()


class _Checked:
    """A pooled connection as the checkout check sees it, whose check answers `error` (one a real server gave)."""

    def __init__(self, error: Exception, driver_connection: asyncpg.Connection) -> None:
        self.error, self.driver_connection = error, driver_connection

    def run_async(self, _statement: object) -> None:
        raise self.error


async def test_the_checkout_check_replaces_a_lost_connection_only_not_one_whose_check_was_cancelled(
    postgres_url: str,
) -> None:
    """A check cancelled (57014) surfaces as itself: the connection lives on; a terminated one (57P01) is replaced."""
    connection, other = await _raw(postgres_url), await _raw(postgres_url)
    try:
        with pytest.raises(asyncpg.QueryCanceledError) as cancelled:
            await connection.execute("SET statement_timeout = '50ms'; SELECT pg_sleep(30)")
        with pytest.raises(asyncpg.QueryCanceledError):
            _ping_on_checkout(_Checked(cancelled.value, connection), None, None)

        waiting = asyncio.create_task(connection.execute("SELECT pg_sleep(30)"))
        await asyncio.sleep(0.2)
        await other.execute("SELECT pg_terminate_backend($1)", connection.get_server_pid())
        with pytest.raises(Exception) as terminated:  # 57P01, or the closed socket
            await waiting
        with pytest.raises(DisconnectionError):
            _ping_on_checkout(_Checked(terminated.value, other), None, None)  # `other` is open: the error decides
    finally:
        await other.close()
        connection.terminate()


@pytest.mark.parametrize(
    ("error", "run_again"),
    [
        (asyncpg.exceptions.CannotConnectNowError("the database system is starting up"), True),  # 57P03
        (asyncpg.exceptions.ConnectionFailureError("server closed the connection unexpectedly"), True),  # 08006
        (asyncpg.exceptions.ProtocolError("unexpected message"), True),  # no SQLSTATE: the protocol left mid-message
        (asyncpg.exceptions.QueryCanceledError("canceling statement due to user request"), False),  # 57014
    ],
)
async def test_a_read_runs_again_when_its_connection_was_lost_only(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch, error: Exception, run_again: bool
) -> None:
    db = Database(postgres_url)
    try:
        async with db.engine.begin() as connection:
            await connection.execute(text("CREATE TABLE items (name text)"))
            await connection.execute(text("INSERT INTO items VALUES ('a')"))
        statement = select(column("name")).select_from(table("items"))
        assert [row.name for row in await db.reader.rows(statement, {})] == ["a"]  # the pool is open
        fetch, failures = db.reader._fetch, [error]

        async def failing_once(*arguments: Any) -> list[Any]:
            if failures:
                raise failures.pop()
            return await fetch(*arguments)

        monkeypatch.setattr(db.reader, "_fetch", failing_once)
        if run_again:
            assert [row.name for row in await db.reader.rows(statement, {})] == ["a"]
        else:
            with pytest.raises(type(error)):
                await db.reader.rows(statement, {})
    finally:
        await db.dispose()
