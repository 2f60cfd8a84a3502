"""An offering target's burn-rate policy and maintenance windows become the agreement objective's terms."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

Bearer = Callable[..., dict[str, str]]
Seed = Callable[..., Awaitable[dict[str, str]]]
Events = Callable[..., Awaitable[list[Any]]]
WINDOW = {"kind": "rolling", "duration": "28d"}
SUNDAYS = {"start": "2026-01-04T02:00:00Z", "rrule": "FREQ=WEEKLY;BYDAY=SU", "duration_minutes": 120}


def tier(share: float) -> dict[str, Any]:
    return {"name": "fast", "severity": "page", "budget_share": share, "long_window": "2h", "short_window": "10m"}


def targets(share: float) -> list[dict[str, Any]]:
    availability = {"indicator": "availability", "target": 0.999, "window": WINDOW}
    return [
        {**availability, "alert_policy": [tier(share)], "maintenance_windows": [SUNDAYS]},
        {"indicator": "latency", "indicator_kind": "threshold", "target": 0.95, "op": "lte", "value": 300.0}
        | {"window": WINDOW},
    ]


async def test_objectives_carry_the_targets_terms_and_an_amendment_moves_them_onto_the_next_offering(
    client: httpx.AsyncClient, seed_offering: Seed, parties: dict[str, str], bearer: Bearer, published_events: Events
) -> None:
    first = await seed_offering(targets=targets(0.02))
    body = {"kind": "SLA", "name": "Ledger", "consumer_party_id": parties["customer"], **first}
    latency = {"indicator": "latency", "indicator_kind": "threshold", "target": 0.9, "op": "lte", "value": 500.0}
    created = await client.post("/v1/agreements", json={**body, "objectives": [latency | {"window": WINDOW}]})
    assert created.status_code == 201, created.text
    objectives = {o["indicator"]: o for o in created.json()["objectives"]}
    assert objectives["availability"]["alert_policy"] == [tier(0.02)]
    [window] = objectives["availability"]["maintenance_windows"]
    assert (window["rrule"], window["duration_minutes"]) == (SUNDAYS["rrule"], 120)
    assert "alert_policy" not in objectives["latency"] and objectives["latency"]["customer_specific"]
    aid = created.json()["id"]
    assert (await client.post(f"/v1/agreements/{aid}/propose")).status_code == 200
    assert (await client.post(f"/v1/agreements/{aid}/accept")).status_code == 200
    customer = bearer(roles=("customer",), party=parties["customer"])
    assert (await client.post(f"/v1/agreements/{aid}/accept", headers=customer)).status_code == 200
    activated = await client.post(f"/v1/agreements/{aid}/activate")
    assert activated.status_code == 200, activated.text

    [message] = await published_events("slm.agreements.agreement.activated", aid)
    sent = {o["indicator"]: o for o in json.loads(message.data)["objectives"]}
    assert sent["availability"]["alert_policy"] == [tier(0.02)]
    assert sent["availability"]["maintenance_windows"][0]["rrule"] == SUNDAYS["rrule"]
    assert "alert_policy" not in sent["latency"]

    # The offering's next version (a new policy): an amendment onto it takes the new terms, keeping the ids.
    second = await seed_offering(targets=targets(0.01), service_id=first["service_id"], version=2)
    wrong = await seed_offering(targets=targets(0.01))
    for offering_id in ("nope", wrong["offering_id"]):
        refused = await client.post(f"/v1/agreements/{aid}/amend", json={"changes": {"offering_id": offering_id}})
        assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "changes.offering_id"
    amended = await client.post(f"/v1/agreements/{aid}/amend", json={"changes": {"offering_id": second["offering_id"]}})
    assert amended.status_code == 200, amended.text
    assert amended.json()["offering_id"] == first["offering_id"]  # the agreement moves once the version is in force
    assert (await client.get(f"/v1/agreements/{aid}/versions/2")).json()["offering_id"] == second["offering_id"]
    moved = {o["indicator"]: o for o in amended.json()["objectives"]}
    assert moved["availability"]["id"] == objectives["availability"]["id"]
    assert moved["availability"]["alert_policy"] == [tier(0.01)]
    assert moved["latency"] == objectives["latency"]  # the customer's own objective stays as agreed
    diff = (await client.get(f"/v1/agreements/{aid}/diff", params={"from": 1, "to": 2})).json()
    changed = [c for c in diff["changes"] if c["section"] == "objectives"]
    assert [c["after"] for c in changed] == [{"alert_policy": [tier(0.01)]}]
