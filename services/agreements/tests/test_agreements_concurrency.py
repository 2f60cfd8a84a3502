"""If-Match is atomic on PostgreSQL: of two party updates sent at once with one ETag, exactly one wins."""

from __future__ import annotations

import asyncio

import httpx
import pytest


@pytest.fixture
def database_url(postgres_url: str) -> str:
    return postgres_url


async def test_same_etag_twice_gives_one_success_and_one_412(client: httpx.AsyncClient) -> None:
    for round_ in range(5):
        created = await client.post("/v1/parties", json={"name": f"Party {round_}", "kind": "customer"})
        assert created.status_code == 201, created.text
        path = f"/v1/parties/{created.json()['id']}"
        etag = (await client.get(path)).headers["ETag"]
        responses = await asyncio.gather(
            *(client.patch(path, json={"name": name}, headers={"If-Match": etag}) for name in ("First", "Second"))
        )
        assert sorted(r.status_code for r in responses) == [200, 412], [r.text for r in responses]
        winner = next(r.json() for r in responses if r.status_code == 200)
        assert (await client.get(path)).json()["name"] == winner["name"]
