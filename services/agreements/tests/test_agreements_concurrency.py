"""If-Match is atomic on PostgreSQL: of two party updates sent at once with one ETag, exactly one wins."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from test_agreements_activation import Bearer, Seed, agree


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


async def test_two_activations_for_one_customer_and_service_put_one_in_force(
    client: httpx.AsyncClient, seed_offering: Seed, parties: dict[str, str], bearer: Bearer
) -> None:
    customer = bearer(roles=("customer",), party=parties["customer"])
    for _ in range(3):
        offering = await seed_offering()
        base = {"kind": "SLA", "name": "Pay", "consumer_party_id": parties["customer"], **offering}
        first, second = await agree(client, base, customer), await agree(client, base, customer)
        responses = await asyncio.gather(
            client.post(f"/v1/agreements/{first}/activate"), client.post(f"/v1/agreements/{second}/activate")
        )
        assert sorted(r.status_code for r in responses) == [200, 422], [r.text for r in responses]
        states = [(await client.get(f"/v1/agreements/{aid}")).json()["state"] for aid in (first, second)]
        assert sorted(states) == ["active", "agreed"]
