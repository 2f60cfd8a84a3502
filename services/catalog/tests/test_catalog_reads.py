"""On SQLite, reads take no write lock: a GET is answered while another connection holds it."""

from __future__ import annotations

import asyncio
import sqlite3

import httpx
import pytest
from conftest import new_service

from slm_catalog.config import Settings


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url


async def test_a_read_is_answered_while_a_writer_holds_the_lock(client: httpx.AsyncClient, settings: Settings) -> None:
    created = await new_service(client, "payments")
    writer = sqlite3.connect(
        settings.database_url.split("///", 1)[1], isolation_level=None, timeout=30, check_same_thread=False
    )
    try:
        # In a thread: the app's own workers may hold the lock briefly and need the event loop to let go.
        await asyncio.to_thread(writer.execute, "BEGIN IMMEDIATE")
        writer.execute("UPDATE services SET name = 'Held' WHERE id = ?", (created["id"],))
        read = await asyncio.wait_for(client.get(f"/v1/services/{created['id']}"), timeout=10)
        listed = await asyncio.wait_for(client.get("/v1/services"), timeout=10)
    finally:
        writer.rollback()
        writer.close()
    assert read.status_code == 200 and read.json()["name"] == "Payments"
    assert listed.status_code == 200 and listed.json()["total"] == 1
