"""Agreements through their lifecycle over HTTP, with the events they publish on JetStream."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

Bearer = Callable[..., dict[str, str]]

PROBLEM = "application/problem+json"


async def draft_sla(client: httpx.AsyncClient, offering: dict[str, str], consumer: str, **extra: object) -> dict:
    body = {"kind": "SLA", "name": "Payments Gold for Retail", "consumer_party_id": consumer, **offering, **extra}
    response = await client.post("/v1/agreements", json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def test_lifecycle_publishes_one_activation_with_the_objectives(
    client: httpx.AsyncClient,
    seed_offering: Callable[..., Awaitable[dict[str, str]]],
    parties: dict[str, str],
    bearer: Bearer,
    published_events: Callable[..., Awaitable[list[Any]]],
) -> None:
    offering = await seed_offering()
    custom = {
        "name": "Availability",
        "indicator": "availability",
        "target": 0.9995,
        "window": {"kind": "calendar", "unit": "month"},
    }
    draft = await draft_sla(client, offering, parties["customer"], objectives=[custom])
    assert (draft["state"], draft["version"]) == ("draft", 1)
    objectives = {o["indicator"]: o for o in draft["objectives"]}
    assert objectives["availability"]["target"] == 0.9995 and objectives["availability"]["customer_specific"]
    assert (
        objectives["latency"]["value"] == 300.0
        and objectives["latency"]["op"] == "lte"
        and not objectives["latency"]["customer_specific"]
    )
    assert len({o["id"] for o in draft["objectives"]}) == 2
    agreement_id = draft["id"]

    proposed = await client.post(f"/v1/agreements/{agreement_id}/propose", json={"comment": "for review"})
    assert proposed.json()["state"] == "proposed"
    by_provider = await client.post(
        f"/v1/agreements/{agreement_id}/accept", headers={"If-Match": proposed.headers["ETag"]}
    )
    assert by_provider.status_code == 200, by_provider.text
    assert by_provider.json()["state"] == "proposed"
    customer = bearer(roles=("customer",), party=parties["customer"])
    by_customer = await client.post(f"/v1/agreements/{agreement_id}/accept", headers=customer)
    assert by_customer.status_code == 200, by_customer.text
    assert by_customer.json()["state"] == "agreed"
    assert {a["side"] for a in by_customer.json()["acceptances"]} == {"provider", "consumer"}
    activated = await client.post(f"/v1/agreements/{agreement_id}/activate", json={"comment": "go live"})
    assert activated.status_code == 200 and activated.json()["state"] == "active"

    messages = await published_events("slm.agreements.agreement.activated", agreement_id)
    assert len(messages) == 1
    message = messages[0]
    assert message.headers["ce-type"] == "slm.agreements.agreement.activated.v2"
    assert message.headers["ce-tenant"] == "acme"
    payload = json.loads(message.data)
    assert payload["consumer_party_id"] == parties["customer"] and payload["service_key"] == "payments"
    assert {o["objective_id"]: o["target"] for o in payload["objectives"]} == {
        o["id"]: o["target"] for o in draft["objectives"]
    }

    ended = await client.post(f"/v1/agreements/{agreement_id}/terminate", json={"comment": "contract ended"})
    assert ended.json()["state"] == "terminated"
    ends = await published_events("slm.agreements.agreement.ended", agreement_id, settle=0.2)
    assert [json.loads(m.data)["reason"] for m in ends] == ["terminated"]

    history = (await client.get(f"/v1/agreements/{agreement_id}/history")).json()["items"]
    assert [h["action"] for h in history] == ["created", "propose", "accept", "accept", "activate", "terminate"]
    assert history[3]["actor_role"] == "customer" and history[3]["sides"] == ["consumer"]
    assert history[1]["comment"] == "for review" and history[4]["to_state"] == "active"


async def test_internal_ola_is_agreed_by_staff_alone(
    client: httpx.AsyncClient, seed_offering: Callable[..., Awaitable[dict[str, str]]], parties: dict[str, str]
) -> None:
    offering = await seed_offering()
    ola = await client.post(
        "/v1/agreements",
        json={"kind": "OLA", "name": "DB for payments", "consumer_party_id": parties["internal"], **offering},
    )
    assert ola.status_code == 201, ola.text
    agreement_id = ola.json()["id"]
    await client.post(f"/v1/agreements/{agreement_id}/propose")
    accepted = await client.post(f"/v1/agreements/{agreement_id}/accept")
    assert accepted.json()["state"] == "agreed"


async def test_illegal_transitions_and_stale_etags(
    client: httpx.AsyncClient, seed_offering: Callable[..., Awaitable[dict[str, str]]], parties: dict[str, str]
) -> None:
    draft = await draft_sla(client, await seed_offering(), parties["customer"])
    refused = await client.post(f"/v1/agreements/{draft['id']}/activate")
    assert refused.status_code == 409
    assert refused.headers["content-type"] == PROBLEM
    assert refused.json()["state"] == "draft" and "draft" in refused.json()["detail"]

    read = await client.get(f"/v1/agreements/{draft['id']}")
    etag = read.headers["ETag"]
    assert (await client.post(f"/v1/agreements/{draft['id']}/propose", headers={"If-Match": etag})).status_code == 200
    stale = await client.post(f"/v1/agreements/{draft['id']}/terminate", headers={"If-Match": etag})
    assert stale.status_code == 412
    twice = await client.post(f"/v1/agreements/{draft['id']}/accept")
    assert (await client.post(f"/v1/agreements/{draft['id']}/accept")).status_code == 409
    assert twice.status_code == 200
    history = (await client.get(f"/v1/agreements/{draft['id']}/history")).json()
    assert [h["action"] for h in history["items"]] == ["created", "propose", "accept"]


async def test_customers_see_and_accept_only_their_own(
    client: httpx.AsyncClient,
    seed_offering: Callable[..., Awaitable[dict[str, str]]],
    parties: dict[str, str],
    bearer: Bearer,
) -> None:
    draft = await draft_sla(client, await seed_offering(), parties["customer"])
    own = bearer(roles=("customer",), party=parties["customer"])
    other = bearer(roles=("customer",), party=parties["other_customer"])
    assert (await client.get(f"/v1/agreements/{draft['id']}", headers=own)).status_code == 404  # still a draft
    await client.post(f"/v1/agreements/{draft['id']}/propose")

    assert (await client.get(f"/v1/agreements/{draft['id']}", headers=own)).status_code == 200
    assert (await client.get(f"/v1/agreements/{draft['id']}", headers=other)).status_code == 404
    assert (await client.post(f"/v1/agreements/{draft['id']}/accept", headers=other)).status_code == 404
    assert (await client.get("/v1/agreements", headers=other)).json()["total"] == 0
    listed = await client.get("/v1/agreements", headers=own, params={"consumer_party_id": parties["other_customer"]})
    assert listed.json()["total"] == 0
    assert (await client.get("/v1/agreements", headers=own)).json()["total"] == 1

    assert (await client.get(f"/v1/parties/{parties['customer']}", headers=other)).status_code == 404
    assert (await client.get(f"/v1/parties/{parties['other_customer']}", headers=other)).status_code == 200
    assert [p["id"] for p in (await client.get("/v1/parties", headers=other)).json()["items"]] == [
        parties["other_customer"]
    ]

    assert (await client.post(f"/v1/agreements/{draft['id']}/activate", headers=own)).status_code == 403
    assert (await client.post("/v1/parties", json={"name": "X", "kind": "customer"}, headers=own)).status_code == 403
    accepted = await client.post(f"/v1/agreements/{draft['id']}/accept", headers=own)
    assert accepted.status_code == 200 and accepted.json()["acceptances"][0]["side"] == "consumer"


async def test_another_tenant_sees_nothing(
    client: httpx.AsyncClient,
    seed_offering: Callable[..., Awaitable[dict[str, str]]],
    parties: dict[str, str],
    bearer: Bearer,
) -> None:
    draft = await draft_sla(client, await seed_offering(), parties["customer"])
    globex = bearer(tenant="globex", roles=("admin",))
    assert (await client.get(f"/v1/agreements/{draft['id']}", headers=globex)).status_code == 404
    assert (await client.get(f"/v1/agreements/{draft['id']}/history", headers=globex)).status_code == 404
    assert (await client.post(f"/v1/agreements/{draft['id']}/propose", headers=globex)).status_code == 404
    assert (await client.get("/v1/agreements", headers=globex)).json() == {
        "items": [],
        "total": 0,
        "limit": 50,
        "offset": 0,
    }
    assert (await client.get(f"/v1/parties/{parties['customer']}", headers=globex)).status_code == 404
    assert (await client.get("/v1/parties", headers=globex)).json()["total"] == 0
    # another tenant cannot build on acme's parties either
    refused = await client.post(
        "/v1/agreements",
        json={"kind": "SLA", "name": "x", "consumer_party_id": parties["customer"], **await seed_offering("globex")},
        headers=globex,
    )
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "consumer_party_id"
