"""A delivery worker running on a migrated database, as the worker tests start it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from slm_notifier.config import Settings
from slm_notifier.worker import DeliveryWorker
from slm_shared.db import Database
from slm_shared.migrations import upgrade


@contextlib.asynccontextmanager
async def running_worker(database_url: str, **settings: Any) -> AsyncIterator[Database]:
    """A `DeliveryWorker` with these settings (private targets allowed: the receivers are on loopback); the
    database it works on is yielded, and the worker is stopped and the database disposed of after."""
    await upgrade("slm_notifier", database_url)
    db = Database(database_url)
    values = {"environment": "test", "allow_private_targets": True, **settings}
    task = asyncio.create_task(DeliveryWorker(db, Settings(database_url=database_url, **values)).run())
    try:
        await asyncio.sleep(0.2)  # registered and running
        yield db
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await db.dispose()
