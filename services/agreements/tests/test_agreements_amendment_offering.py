"""An amendment onto another offering moves the agreement only once the amendment is put in force."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import httpx

from slm_agreements.config import Settings
from slm_agreements.main import build_app
from slm_shared.migrations import upgrade
from slm_shared.testing.app_client import running_app
from slm_shared.testing.legacy_rows import insert_rows
from slm_shared.testing.pytest_plugin import make_token

Bearer = Callable[..., dict[str, str]]
Seed = Callable[..., Awaitable[dict[str, str]]]
Events = Callable[..., Awaitable[list[Any]]]
WINDOW = {"kind": "rolling", "duration": "28d"}


def availability(target: float) -> list[dict[str, Any]]:
    return [{"indicator": "availability", "target": target, "window": WINDOW}]


async def test_the_agreement_keeps_its_offering_until_the_amendment_onto_another_is_in_force(
    client: httpx.AsyncClient, seed_offering: Seed, parties: dict[str, str], bearer: Bearer, published_events: Events
) -> None:
    first = await seed_offering(targets=availability(0.99))
    body = {"kind": "SLA", "name": "Ledger", "consumer_party_id": parties["customer"], **first}
    created = await client.post("/v1/agreements", json=body)
    assert created.status_code == 201, created.text
    aid = created.json()["id"]
    customer = bearer(roles=("customer",), party=parties["customer"])
    assert (await client.post(f"/v1/agreements/{aid}/propose")).status_code == 200
    assert (await client.post(f"/v1/agreements/{aid}/accept")).status_code == 200
    assert (await client.post(f"/v1/agreements/{aid}/accept", headers=customer)).status_code == 200
    assert (await client.post(f"/v1/agreements/{aid}/activate")).status_code == 200

    async def offering_of_agreement() -> tuple[str, int]:
        shown = (await client.get(f"/v1/agreements/{aid}")).json()
        [listed] = [a for a in (await client.get("/v1/agreements")).json()["items"] if a["id"] == aid]
        assert listed["offering_id"] == shown["offering_id"]
        return shown["offering_id"], shown["offering_version"]

    async def offering_of_version(number: int) -> tuple[str, int, list[float]]:
        found = (await client.get(f"/v1/agreements/{aid}/versions/{number}")).json()
        return found["offering_id"], found["offering_version"], [o["target"] for o in found["objectives"]]

    second = await seed_offering(targets=availability(0.999), service_id=first["service_id"], version=2)
    amended = await client.post(f"/v1/agreements/{aid}/amend", json={"changes": {"offering_id": second["offering_id"]}})
    assert amended.status_code == 200, amended.text
    # The draft proposes the new offering; the agreement in force is still on the first one.
    assert (amended.json()["offering_id"], amended.json()["offering_version"]) == (first["offering_id"], 1)
    assert await offering_of_agreement() == (first["offering_id"], 1)
    assert await offering_of_version(1) == (first["offering_id"], 1, [0.99])
    assert await offering_of_version(2) == (second["offering_id"], 2, [0.999])
    diff = (await client.get(f"/v1/agreements/{aid}/diff", params={"from": 1, "to": 2})).json()["changes"]
    moved = {c["key"]: (c["before"], c["after"]) for c in diff if c["section"] == "terms"}
    assert moved == {"offering_id": (first["offering_id"], second["offering_id"]), "offering_version": (1, 2)}

    # The customer rejects the move: its counter-proposal goes back to the first offering's terms.
    assert (await client.post(f"/v1/agreements/{aid}/propose")).status_code == 200
    rejected = await client.post(
        f"/v1/agreements/{aid}/counter", json={"changes": {"offering_id": first["offering_id"]}}, headers=customer
    )
    assert rejected.status_code == 200, rejected.text
    assert await offering_of_version(3) == (first["offering_id"], 1, [0.99])
    assert await offering_of_agreement() == (first["offering_id"], 1)

    # Proposed again and agreed by both sides: still not in force, so the agreement stays where it was.
    again = await client.post(f"/v1/agreements/{aid}/propose", json={"changes": {"offering_id": second["offering_id"]}})
    assert again.status_code == 200, again.text
    assert (await client.post(f"/v1/agreements/{aid}/accept")).status_code == 200
    agreed = await client.post(f"/v1/agreements/{aid}/accept", headers=customer)
    assert agreed.json()["state"] == "agreed"
    assert await offering_of_agreement() == (first["offering_id"], 1)

    activated = await client.post(f"/v1/agreements/{aid}/activate")
    assert activated.status_code == 200, activated.text
    assert await offering_of_agreement() == (second["offering_id"], 2)
    messages = await published_events("slm.agreements.agreement.activated", aid)
    assert [json.loads(m.data)["offering_id"] for m in messages] == [first["offering_id"], second["offering_id"]]


async def test_stored_versions_are_taken_to_be_based_on_their_agreements_offering(settings: Settings) -> None:
    url = settings.database_url
    await upgrade("slm_agreements", url, "0008")
    now = datetime.now(UTC)
    await insert_rows(url, "parties", [{"id": "party-1", "tenant": "acme", "name": "Acme", "kind": "customer"}])
    agreement = {"id": "agr-1", "tenant": "acme", "kind": "SLA", "name": "Gold", "service_id": "svc-1",
                 "service_key": "search", "offering_id": "off-1", "offering_version": 3, "consumer_party_id": "party-1",
                 "state": "draft", "version": 1, "standard_targets": availability(0.99), "effective_from": now,
                 "created_by": "ana", "review_cycle": "quarterly"}  # fmt: skip
    await insert_rows(url, "agreements", [agreement])
    version = {"agreement_id": "agr-1", "version": 1, "tenant": "acme", "status": "draft", "created_by": "ana",
               "effective_from": now, "timezone": "UTC", "review_cycle": "quarterly", "price": None,
               "ticket_targets": [], "service_credits": [], "maintenance_windows": [], "risks": []}  # fmt: skip
    await insert_rows(url, "agreement_versions", [version])
    async with running_app(build_app(settings), token=make_token("acme", ("manager",))) as client:
        found = (await client.get("/v1/agreements/agr-1/versions/1")).json()
        assert (found["offering_id"], found["offering_version"]) == ("off-1", 3)
