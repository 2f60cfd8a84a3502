"""Bad input never reaches a 500: every parameter of every notifier route made hostile, then generated requests."""

from __future__ import annotations

import httpx
import pytest

from slm_shared.testing.fuzz import fuzz, sweep


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url


@pytest.mark.timeout(300)  # some hundred requests through the whole app; slow on a loaded machine
async def test_generated_requests_never_reach_a_5xx(client: httpx.AsyncClient) -> None:
    hook = {"name": "ops", "event_types": ["slm.measurement.objective.*"], "target": {"url": "https://hooks.example/x"}}
    subscription = (await client.post("/v1/subscriptions", json=hook)).json()
    known = {"subscription_id": subscription["id"]}
    await sweep(client, known=known)
    await fuzz(client, examples=150, known=known)
