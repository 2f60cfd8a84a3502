"""Negotiation from both sides over HTTP: immutable versions, diffs, amendments and the version in force."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

Bearer = Callable[..., dict[str, str]]
MONTH = {"kind": "calendar", "unit": "month"}
CREDITS = [{"below": 0.999, "down_to": 0.99, "credit_percent": "10"}]
PRICE = {"amount": "1000", "currency": "EUR", "period": "month"}


async def test_both_sides_counter_until_agreed(
    client: httpx.AsyncClient,
    seed_offering: Callable[..., Awaitable[dict[str, str]]],
    parties: dict[str, str],
    bearer: Bearer,
    published_events: Callable[..., Awaitable[list[Any]]],
) -> None:
    offering = await seed_offering(
        service_credits=CREDITS, price=PRICE, ticket_targets=[{"priority": "P1", "response_seconds": 900}]
    )
    body = {"kind": "SLA", "name": "Payments", "consumer_party_id": parties["customer"], **offering}
    draft = (await client.post("/v1/agreements", json=body)).json()
    assert float(draft["service_credits"][0]["credit_percent"]) == 10 and float(draft["price"]["amount"]) == 1000
    assert draft["ticket_targets"] == [{"priority": "P1", "response_seconds": 900, "resolution_seconds": None}]
    aid = draft["id"]
    availability = next(o for o in draft["objectives"] if o["indicator"] == "availability")
    customer = bearer(roles=("customer",), party=parties["customer"])
    other = bearer(roles=("customer",), party=parties["other_customer"])

    window = {"start": "2030-01-06T02:00:00Z", "rrule": "FREQ=WEEKLY;BYDAY=SU", "duration_minutes": 60}
    edited = await client.patch(f"/v1/agreements/{aid}", json={"maintenance_windows": [window]})
    assert edited.status_code == 200 and edited.json()["maintenance_windows"][0]["rrule"] == "FREQ=WEEKLY;BYDAY=SU"
    assert (
        await client.post(f"/v1/agreements/{aid}/counter", json={"changes": {"review_cycle": "monthly"}})
    ).status_code == 409
    assert (await client.post(f"/v1/agreements/{aid}/propose")).json()["state"] == "proposed"
    assert (await client.patch(f"/v1/agreements/{aid}", json={"review_cycle": "monthly"})).status_code == 409

    wanted = {**availability, "target": 0.9995}
    wanted.pop("customer_specific")
    latency = next(o for o in draft["objectives"] if o["indicator"] == "latency")
    latency = {k: v for k, v in latency.items() if k != "customer_specific"}
    countered = await client.post(
        f"/v1/agreements/{aid}/counter",
        json={
            "changes": {"objectives": [wanted, latency], "service_credits": [{**CREDITS[0], "credit_percent": "25"}]}
        },
        headers=customer,
    )
    assert countered.status_code == 200, countered.text
    assert (countered.json()["state"], countered.json()["version"]) == ("countered", 2)
    kept = next(o for o in countered.json()["objectives"] if o["indicator"] == "availability")
    assert kept["id"] == availability["id"] and kept["customer_specific"]
    assert (await client.post(f"/v1/agreements/{aid}/counter", json={"changes": {}}, headers=other)).status_code == 404
    same = await client.post(f"/v1/agreements/{aid}/counter", json={"changes": {"review_cycle": "quarterly"}})
    assert same.status_code == 422 and same.json()["errors"][0]["field"] == "changes"

    answered = await client.post(
        f"/v1/agreements/{aid}/propose",
        json={"changes": {"price": {**PRICE, "amount": "1200"}}, "comment": "costs more"},
    )
    assert (answered.json()["state"], answered.json()["version"]) == ("proposed", 3)
    assert (await client.post(f"/v1/agreements/{aid}/accept", headers=customer)).json()["state"] == "proposed"
    agreed = await client.post(f"/v1/agreements/{aid}/accept")
    assert agreed.json()["state"] == "agreed"

    versions = (await client.get(f"/v1/agreements/{aid}/versions", headers=customer)).json()["items"]
    assert [(v["version"], v["status"], v["proposed_by"]) for v in versions] == [
        (1, "replaced", "provider"),
        (2, "replaced", "consumer"),
        (3, "agreed", "provider"),
    ]
    v1 = (await client.get(f"/v1/agreements/{aid}/versions/1", headers=customer)).json()
    assert v1["objectives"][0]["target"] != 0.9995 and float(v1["service_credits"][0]["credit_percent"]) == 10
    diff = (await client.get(f"/v1/agreements/{aid}/diff", params={"from": 1, "to": 3}, headers=customer)).json()
    assert {(c["section"], c["key"]) for c in diff["changes"]} == {
        ("objectives", "availability"),
        ("service_credits", "below 0.999"),
        ("price", "price"),
    }
    assert (await client.get(f"/v1/agreements/{aid}/diff", params={"from": 1, "to": 9})).status_code == 404
    assert (await client.get(f"/v1/agreements/{aid}/diff", params={"from": "x", "to": 2})).status_code == 422

    history = [h["action"] for h in (await client.get(f"/v1/agreements/{aid}/history")).json()["items"]]
    assert history == ["created", "edit", "propose", "counter", "propose", "accept", "accept"]
    countered_events = await published_events("slm.agreements.agreement.countered", aid, settle=0.2)
    assert [json.loads(m.data)["side"] for m in countered_events] == ["consumer"]
    agreed_events = await published_events("slm.agreements.agreement.agreed", aid, settle=0.2)
    assert [json.loads(m.data)["version"] for m in agreed_events] == [3]


async def test_amendment_supersedes_the_version_in_force(
    client: httpx.AsyncClient,
    seed_offering: Callable[..., Awaitable[dict[str, str]]],
    parties: dict[str, str],
    bearer: Bearer,
    published_events: Callable[..., Awaitable[list[Any]]],
) -> None:
    body = {"kind": "SLA", "name": "Payments", "consumer_party_id": parties["customer"], **await seed_offering()}
    aid = (await client.post("/v1/agreements", json=body)).json()["id"]
    customer = bearer(roles=("customer",), party=parties["customer"])
    await client.post(f"/v1/agreements/{aid}/propose")
    await client.post(f"/v1/agreements/{aid}/accept")
    await client.post(f"/v1/agreements/{aid}/accept", headers=customer)
    first = await client.post(f"/v1/agreements/{aid}/activate")
    assert first.status_code == 200, first.text
    between = datetime.now(UTC)

    assert (await client.post(f"/v1/agreements/{aid}/amend", headers=customer)).status_code == 403
    amended = await client.post(f"/v1/agreements/{aid}/amend", json={"changes": {"review_cycle": "monthly"}})
    assert amended.status_code == 200, amended.text
    assert (amended.json()["state"], amended.json()["version"], amended.json()["in_force_version"]) == ("draft", 2, 1)
    seen = (await client.get(f"/v1/agreements/{aid}", headers=customer)).json()
    assert seen["review_cycle"] == "quarterly" and seen["in_force_version"] == 1  # the customer sees what is in force
    assert (await client.get(f"/v1/agreements/{aid}/versions/2", headers=customer)).status_code == 404

    await client.post(f"/v1/agreements/{aid}/propose")
    await client.post(f"/v1/agreements/{aid}/accept")
    await client.post(f"/v1/agreements/{aid}/accept", headers=customer)
    second = await client.post(f"/v1/agreements/{aid}/activate")
    assert second.status_code == 200, second.text
    assert (second.json()["state"], second.json()["in_force_version"]) == ("active", 2)

    at_first = await client.get(f"/v1/agreements/{aid}/versions/in-force", params={"at": between.isoformat()})
    assert at_first.json()["version"] == 1 and at_first.json()["status"] == "superseded"
    now = await client.get(f"/v1/agreements/{aid}/versions/in-force", params={"at": datetime.now(UTC).isoformat()})
    assert now.json()["version"] == 2 and now.json()["review_cycle"] == "monthly"
    before = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    assert (await client.get(f"/v1/agreements/{aid}/versions/in-force", params={"at": before})).status_code == 404
    naive = await client.get(f"/v1/agreements/{aid}/versions/in-force", params={"at": "2030-01-01T00:00:00"})
    assert naive.status_code == 422 and naive.json()["errors"][0]["field"] == "at"

    ended = await published_events("slm.agreements.agreement.ended", aid, settle=0.2)
    assert [(json.loads(m.data)["version"], json.loads(m.data)["reason"]) for m in ended] == [(1, "superseded")]
    activated = await published_events("slm.agreements.agreement.activated", aid, settle=0.2)
    payloads = [json.loads(m.data) for m in activated]
    assert [p["version"] for p in payloads] == [1, 2]
    assert {o["objective_id"] for o in payloads[0]["objectives"]} == {
        o["objective_id"] for o in payloads[1]["objectives"]
    }

    terminated = await client.post(f"/v1/agreements/{aid}/terminate")
    assert terminated.json()["state"] == "terminated"
    ended = await published_events("slm.agreements.agreement.ended", aid, settle=0.2)
    assert [json.loads(m.data)["reason"] for m in ended] == ["superseded", "terminated"]
