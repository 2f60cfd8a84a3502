"""Credentials in targets are hidden on every read, and a read sent back unchanged keeps them."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import text

from slm_shared.db import Database

TYPES = ["slm.measurement.objective.*"]
SNOW = {"instance_url": "https://acme.service-now.example", "username": "svc", "password": "s3cret-pw"}
SLACK_URL = "https://hooks.slack.example/services/T000/B000/XXXXSECRET"


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url


async def stored_target(database_url: str, subscription_id: str) -> str:
    db = Database(database_url)
    try:
        async with db.sessionmaker() as session:
            found = await session.scalar(
                text("SELECT target FROM subscriptions WHERE id = :id"), {"id": subscription_id}
            )
            return str(found)
    finally:
        await db.dispose()


async def test_a_read_sent_back_keeps_the_stored_secrets(client: httpx.AsyncClient, database_url: str) -> None:
    for channel, target, secret in (("servicenow", SNOW, "s3cret-pw"), ("slack", {"url": SLACK_URL}, "XXXXSECRET")):
        created = await client.post(
            "/v1/subscriptions", json={"name": channel, "event_types": TYPES, "channel": channel, "target": target}
        )
        assert created.status_code == 201, created.text
        path = f"/v1/subscriptions/{created.json()['id']}"
        read = await client.get(path)
        assert secret not in read.text and secret not in created.text.replace(created.json()["secret"], "")
        changed = await client.patch(path, json={"name": "renamed", "target": read.json()["target"]})
        assert changed.status_code == 200, changed.text
        assert secret not in changed.text
        assert secret in await stored_target(database_url, created.json()["id"])
