"""PostgreSQL write pool: a checkout checks its connection in one round trip, and a dead one is replaced."""

from __future__ import annotations

import contextlib
from typing import Any

import asyncpg
import pytest
from sqlalchemy import event, text

from slm_shared.db import Database


def _log_queries(db: Database) -> list[str]:
    """Every query the driver sends on the write pool's connections from now on."""
    sent: list[str] = []

    @event.listens_for(db.engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.driver_connection.add_query_logger(lambda record: sent.append(record.query.strip()))

    return sent


@pytest.mark.asyncio
async def test_a_checkout_checks_its_connection_in_one_round_trip(postgres_url: str) -> None:
    db = Database(postgres_url)
    sent = _log_queries(db)
    try:
        for _ in range(3):
            async with db.session() as session:
                assert await session.scalar(text("SELECT 1")) == 1
        # each checkout: the check (one simple statement outside any transaction; SQLAlchemy's pre-ping would send
        # BEGIN, a statement and ROLLBACK), then the transaction (its own statements go as prepared ones, not logged)
        assert sent == ["SELECT 1", "BEGIN;", "COMMIT;"] * 3, sent
    finally:
        await db.dispose()


@pytest.mark.asyncio
async def test_a_pooled_connection_the_server_dropped_is_replaced_before_use(postgres_url: str) -> None:
    db = Database(postgres_url)
    try:
        async with db.session() as session:
            pid = await session.scalar(text("SELECT pg_backend_pid()"))
        other = Database(postgres_url)
        try:
            async with other.session() as session:  # the server drops it (a restart, a proxy, an idle timeout)
                await session.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        finally:
            await other.dispose()
        async with db.session() as session:  # checked on checkout and replaced, not failed
            assert await session.scalar(text("SELECT pg_backend_pid()")) != pid
    finally:
        await db.dispose()


@pytest.mark.asyncio
async def test_a_check_failing_for_another_reason_surfaces_as_itself(postgres_url: str) -> None:
    db = Database(postgres_url, pool_size=1, max_overflow=0)
    try:
        async with db.engine.connect() as connection:
            raw = (await connection.get_raw_connection()).driver_connection
            # behind SQLAlchemy's back: the connection goes back to the pool alive, in a failed transaction
            with contextlib.suppress(asyncpg.DivisionByZeroError):
                await raw.execute("BEGIN; SELECT 1 / 0")
        with pytest.raises(asyncpg.InFailedSQLTransactionError):  # not "connection closed" and a silent reconnect
            async with db.session() as session:
                await session.scalar(text("SELECT 1"))
    finally:
        await db.dispose()
