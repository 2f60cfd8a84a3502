"""Parties: editing contacts with optimistic concurrency, and the events notifiers learn contacts from."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx
import nats

from slm_shared.testing.nats_server import NatsServer

CONTACT = {"name": "Ana Silva", "email": "ana@example.com", "role": "service_level_manager", "escalation_level": 1}
MANAGER = {"name": "Rui Costa", "email": "rui@example.com", "role": "business_owner", "escalation_level": 2}


async def party_events(nats_server: NatsServer, party_id: str, expected: int) -> list[Any]:
    """The party's events on JetStream, waiting until `expected` of them arrived."""
    nc = await nats.connect(nats_server.url)
    try:
        js = nc.jetstream()
        found: list[Any] = []
        for _ in range(60):
            sub = await js.pull_subscribe("slm.agreements.party.*", durable=None, stream="SLM_AGREEMENTS")
            found = []
            while True:
                try:
                    batch = await sub.fetch(200, timeout=0.3)
                except TimeoutError:
                    break
                found += [m for m in batch if json.loads(m.data)["party_id"] == party_id]
            await sub.unsubscribe()
            if len(found) >= expected:
                break
            await asyncio.sleep(0.2)
        return found
    finally:
        await nc.close()


async def test_party_changes_are_published_with_contacts(
    client: httpx.AsyncClient, nats_server: NatsServer, bearer: Callable[..., dict[str, str]]
) -> None:
    created = await client.post(
        "/v1/parties", json={"name": "Northwind", "kind": "customer", "contacts": [CONTACT], "escalation_seconds": 900}
    )
    assert created.status_code == 201, created.text
    party = created.json()
    assert party["version"] == 1 and party["escalation_seconds"] == 900

    read = await client.get(f"/v1/parties/{party['id']}")
    etag = read.headers["ETag"]
    updated = await client.patch(
        f"/v1/parties/{party['id']}", json={"contacts": [CONTACT, MANAGER]}, headers={"If-Match": etag}
    )
    assert updated.status_code == 200, updated.text
    assert [c["name"] for c in updated.json()["contacts"]] == ["Ana Silva", "Rui Costa"]
    assert updated.json()["escalation_seconds"] == 900  # untouched by a partial update

    stale = await client.patch(f"/v1/parties/{party['id']}", json={"name": "Late"}, headers={"If-Match": etag})
    assert stale.status_code == 412
    customer = bearer(roles=("customer",), party=party["id"])
    assert (
        await client.patch(f"/v1/parties/{party['id']}", json={"name": "Mine"}, headers=customer)
    ).status_code == 403
    other_tenant = bearer(tenant="globex")
    assert (
        await client.patch(f"/v1/parties/{party['id']}", json={"name": "X"}, headers=other_tenant)
    ).status_code == 404

    messages = await party_events(nats_server, party["id"], expected=2)
    assert [m.headers["ce-type"] for m in messages] == [
        "slm.agreements.party.created.v1",
        "slm.agreements.party.updated.v1",
    ]
    latest = json.loads(messages[-1].data)
    assert latest["version"] == 2 and latest["escalation_seconds"] == 900
    assert [(c["email"], c["escalation_level"]) for c in latest["contacts"]] == [
        ("ana@example.com", 1),
        ("rui@example.com", 2),
    ]


async def test_party_update_refuses_bad_input(client: httpx.AsyncClient) -> None:
    created = await client.post("/v1/parties", json={"name": "Contoso", "kind": "customer"})
    response = await client.patch(
        f"/v1/parties/{created.json()['id']}", json={"contacts": [{**CONTACT, "email": "not-an-address"}]}
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"][0]["field"] == "contacts.0.email"
