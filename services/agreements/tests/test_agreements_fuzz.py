"""Bad input never reaches a 500: every parameter of every agreements route made hostile, then generated requests."""

from __future__ import annotations

import httpx
import pytest
from conftest import _bearer as bearer
from test_agreements_activation import MONTH, Seed

from slm_shared.testing.fuzz import fuzz, sweep


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url


@pytest.mark.timeout(300)  # some hundred requests through the whole app; slow on a loaded machine
async def test_generated_requests_never_reach_a_5xx(
    client: httpx.AsyncClient, seed_offering: Seed, parties: dict[str, str]
) -> None:
    offering = await seed_offering()
    body = {"kind": "SLA", "name": "Pay", "consumer_party_id": parties["customer"], **offering}
    agreement = (await client.post("/v1/agreements", json=body)).json()
    known = {"agreement_id": agreement["id"], "party_id": parties["customer"]}
    await sweep(client, known=known)
    await fuzz(client, examples=150, known=known)


async def test_out_of_range_numbers_and_dates_name_the_field(
    client: httpx.AsyncClient, seed_offering: Seed, parties: dict[str, str]
) -> None:
    offering = await seed_offering()
    base = {"kind": "SLA", "name": "Pay", "consumer_party_id": parties["customer"], **offering}
    created = await client.post("/v1/agreements", json=base)
    assert created.status_code == 201, created.text
    version = await client.get(f"/v1/agreements/{created.json()['id']}/versions/{10**20}")
    assert version.status_code == 422 and version.json()["errors"][0]["field"] == "version", version.text
    letter = await client.post(f"/v1/dead-letters/{10**20}/replay", headers=bearer(roles=("admin",)))
    assert letter.status_code == 422 and letter.json()["errors"][0]["field"] == "dead_letter_id", letter.text
    far = await client.post("/v1/agreements", json={**base, "effective_from": "9999-12-31T00:00:00Z"})
    assert far.status_code == 422 and far.json()["errors"][0]["field"] == "effective_from", far.text
    slice_ = {"indicator": "availability", "target": 0.9, "timeslice_seconds": 10**30, "window": MONTH}
    huge = await client.post("/v1/agreements", json={**base, "objectives": [slice_]})
    assert huge.status_code == 422 and "timeslice_seconds" in huge.json()["errors"][0]["field"], huge.text
