"""A service's database for a test: migrated to its head, disposed of afterwards."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from slm_shared.db import Database
from slm_shared.migrations import upgrade


@contextlib.asynccontextmanager
async def migrated_database(package: str, url: str) -> AsyncIterator[Database]:
    """The database at `url` migrated by `package` (`slm_notifier`...); disposed of when the block ends."""
    await upgrade(package, url)
    db = Database(url)
    try:
        yield db
    finally:
        await db.dispose()
