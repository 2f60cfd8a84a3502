from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import text
from sqlmodel import SQLModel

from slm_shared.bus import Bus
from slm_shared.db import Database
from slm_shared.testing.nats_server import NatsServer


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    import slm_shared.bus.models
    import slm_shared.web.concurrency  # noqa: F401

    database = Database(database_url)
    async with database.engine.begin() as connection:
        await connection.run_sync(SQLModel.metadata.create_all)
    yield database
    await database.dispose()


@pytest.fixture
async def items_db(postgres_url: str) -> AsyncIterator[Database]:
    """A PostgreSQL database with a table `items` holding one row, 'a' (the read pool's tests)."""
    database = Database(postgres_url)
    async with database.session() as session:
        await session.execute(text("CREATE TABLE items (name TEXT PRIMARY KEY)"))
        await session.execute(text("INSERT INTO items VALUES ('a')"))
    yield database
    await database.dispose()


@pytest.fixture
async def bus(nats_server: NatsServer) -> AsyncIterator[Bus]:
    connected = Bus(nats_server.url, name="test")
    await connected.connect(attempts=20)
    await connected.ensure_platform_streams()
    yield connected
    await connected.close()


@pytest.fixture
def hops(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The calls handed to aiosqlite's thread (the real ones, counted on their way)."""
    handed: list[str] = []
    execute = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        handed.append(f"{getattr(fn, '__name__', fn)}{args[1:2]}")
        return await execute(self, fn, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    return handed
