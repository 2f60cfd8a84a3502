"""What the read pool's tests and its asyncpg-upgrade checks share: a database with one table, and a changed asyncpg."""

from __future__ import annotations

from sqlalchemy import text

from slm_shared.db import Database


async def items_database(url: str) -> Database:
    """A database with a table `items` holding one row, 'a'."""
    db = Database(url)
    async with db.session() as session:
        await session.execute(text("CREATE TABLE items (name TEXT PRIMARY KEY)"))
        await session.execute(text("INSERT INTO items VALUES ('a')"))
    return db


class ChangedProtocol:
    """asyncpg's Protocol as a release without `_wait_for_cancellation` would have it."""
