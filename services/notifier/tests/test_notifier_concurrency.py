"""If-Match is atomic on PostgreSQL: of two subscription updates sent at once with one ETag, one wins."""

from __future__ import annotations

import asyncio

import httpx
import pytest

HOOK = {"name": "ops", "event_types": ["slm.measurement.objective.*"], "target": {"url": "https://hooks.example/slm"}}


@pytest.fixture
def database_url(postgres_url: str) -> str:
    return postgres_url


async def test_same_etag_twice_gives_one_success_and_one_412(client: httpx.AsyncClient) -> None:
    for _ in range(5):
        created = await client.post("/v1/subscriptions", json=HOOK)
        assert created.status_code == 201, created.text
        path, etag = f"/v1/subscriptions/{created.json()['id']}", created.headers["ETag"]
        responses = await asyncio.gather(
            *(client.patch(path, json={"name": name}, headers={"If-Match": etag}) for name in ("first", "second"))
        )
        assert sorted(r.status_code for r in responses) == [200, 412], [r.text for r in responses]
        winner = next(r.json() for r in responses if r.status_code == 200)
        assert (await client.get(path)).json()["name"] == winner["name"]
