"""An escalation pass with nothing to do writes nothing, so on SQLite it never waits for (or holds up) a writer."""

from __future__ import annotations

import asyncio
import sqlite3

from slm_notifier.config import Settings
from slm_notifier.contacts.book import ContactBook
from slm_notifier.escalation.service import Escalator
from slm_shared.db import Database
from slm_shared.migrations import upgrade


async def test_an_idle_pass_runs_while_another_writer_holds_sqlites_lock(sqlite_url: str) -> None:
    await upgrade("slm_notifier", sqlite_url)
    db = Database(sqlite_url)
    settings = Settings(database_url=sqlite_url, environment="test")
    escalator = Escalator(db, ContactBook.from_settings(db, settings), default_seconds=60)
    writer = sqlite3.connect(sqlite_url.removeprefix("sqlite+aiosqlite:///"), isolation_level=None)
    try:
        assert await escalator.run_once() == 0  # the file is in WAL mode (readers pass a writer) from here
        writer.execute("BEGIN IMMEDIATE")  # another process's write transaction, left open
        # a pass that began a write transaction would wait here for SQLite's lock (busy timeout 30 s)
        assert await asyncio.wait_for(escalator.run_once(), timeout=10) == 0
    finally:
        writer.rollback()
        writer.close()
        await db.dispose()
