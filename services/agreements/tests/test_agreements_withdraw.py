"""An amendment not yet activated can be withdrawn by staff: the agreement keeps the version in force and its
offering, the withdrawn version is never activated, and of a withdraw and an activation sent at once one wins."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

Bearer = Callable[..., dict[str, str]]
Seed = Callable[..., Awaitable[dict[str, str]]]
Events = Callable[..., Awaitable[list[Any]]]
WINDOW = {"kind": "rolling", "duration": "28d"}


def availability(target: float) -> list[dict[str, Any]]:
    return [{"indicator": "availability", "target": target, "window": WINDOW}]


async def _active(client: httpx.AsyncClient, offering: dict[str, str], parties: dict[str, str], customer: Any) -> str:
    body = {"kind": "SLA", "name": "Ledger", "consumer_party_id": parties["customer"], **offering}
    created = await client.post("/v1/agreements", json=body)
    assert created.status_code == 201, created.text
    aid = str(created.json()["id"])
    for step, headers in (("propose", None), ("accept", None), ("accept", customer), ("activate", None)):
        answered = await client.post(f"/v1/agreements/{aid}/{step}", headers=headers)
        assert answered.status_code == 200, answered.text
    return aid


async def _agreed_amendment(client: httpx.AsyncClient, aid: str, offering_id: str, customer: Any) -> None:
    amended = await client.post(f"/v1/agreements/{aid}/amend", json={"changes": {"offering_id": offering_id}})
    assert amended.status_code == 200, amended.text
    for step, headers in (("propose", None), ("accept", None), ("accept", customer)):
        answered = await client.post(f"/v1/agreements/{aid}/{step}", headers=headers)
        assert answered.status_code == 200, answered.text
    assert answered.json()["state"] == "agreed"


async def _shown(client: httpx.AsyncClient, aid: str) -> tuple[str, int, str, int, list[float]]:
    shown = (await client.get(f"/v1/agreements/{aid}")).json()
    targets = [o["target"] for o in shown["objectives"]]
    return shown["state"], shown["version"], shown["offering_id"], shown["offering_version"], targets


async def test_a_withdrawn_amendment_leaves_the_version_in_force_and_can_never_be_activated(
    client: httpx.AsyncClient, seed_offering: Seed, parties: dict[str, str], bearer: Bearer, published_events: Events
) -> None:
    customer = bearer(roles=("customer",), party=parties["customer"])
    first = await seed_offering(targets=availability(0.99))
    second = await seed_offering(targets=availability(0.999), service_id=first["service_id"], version=2)
    aid = await _active(client, first, parties, customer)
    before = await _shown(client, aid)
    assert before == ("active", 1, first["offering_id"], 1, [0.99])

    # nothing to withdraw yet; a customer never withdraws (amendments are the provider's)
    nothing = await client.post(f"/v1/agreements/{aid}/withdraw")
    assert nothing.status_code == 409 and nothing.headers["content-type"] == "application/problem+json"
    assert nothing.json()["detail"] == "No amendment is open to withdraw; the agreement is active"
    await _agreed_amendment(client, aid, second["offering_id"], customer)
    refused = await client.post(f"/v1/agreements/{aid}/withdraw", headers=customer)
    assert refused.status_code == 403 and refused.headers["content-type"] == "application/problem+json"

    withdrawn = await client.post(f"/v1/agreements/{aid}/withdraw", json={"comment": "not this quarter"})
    assert withdrawn.status_code == 200, withdrawn.text
    assert withdrawn.json()["in_force_version"] == 1
    assert await _shown(client, aid) == before
    versions = (await client.get(f"/v1/agreements/{aid}/versions")).json()["items"]
    assert [(v["version"], v["status"]) for v in versions] == [(1, "active"), (2, "withdrawn")]

    again = await client.post(f"/v1/agreements/{aid}/activate")  # the withdrawn version is never put in force
    assert again.status_code == 409, again.text
    assert await _shown(client, aid) == before
    history = (await client.get(f"/v1/agreements/{aid}/history")).json()["items"]
    assert [(h["action"], h["from_state"], h["to_state"], h["agreement_version"]) for h in history[-1:]] == [
        ("withdraw", "agreed", "active", 2)
    ]
    assert history[-1]["comment"] == "not this quarter"
    [event] = await published_events("slm.agreements.agreement.withdrawn", aid)
    assert (json.loads(event.data)["version"], json.loads(event.data)["previous_state"]) == (2, "agreed")

    # the next amendment starts from the terms in force, numbered past the withdrawn one
    reopened = await client.post(f"/v1/agreements/{aid}/amend")
    assert reopened.status_code == 200, reopened.text
    three = (await client.get(f"/v1/agreements/{aid}/versions/3")).json()
    assert (three["based_on"], three["offering_id"], [o["target"] for o in three["objectives"]]) == (
        1, first["offering_id"], [0.99])  # fmt: skip
    # a draft withdrawn before it was proposed stays the provider's: customers never see it
    assert (await client.post(f"/v1/agreements/{aid}/withdraw")).status_code == 200
    assert (await client.get(f"/v1/agreements/{aid}/versions/3", headers=customer)).status_code == 404
    assert (await client.get(f"/v1/agreements/{aid}/versions/2", headers=customer)).status_code == 200
    seen = (await client.get(f"/v1/agreements/{aid}/versions", headers=customer)).json()["items"]
    assert [v["version"] for v in seen] == [1, 2]


async def test_an_agreement_never_in_force_is_terminated_not_withdrawn(
    client: httpx.AsyncClient, seed_offering: Seed, parties: dict[str, str]
) -> None:
    offering = await seed_offering(targets=availability(0.99))
    body = {"kind": "SLA", "name": "Ledger", "consumer_party_id": parties["customer"], **offering}
    aid = (await client.post("/v1/agreements", json=body)).json()["id"]
    assert (await client.post(f"/v1/agreements/{aid}/propose")).status_code == 200
    refused = await client.post(f"/v1/agreements/{aid}/withdraw")
    assert refused.status_code == 409
    assert "terminate it instead" in refused.json()["detail"] and refused.json()["state"] == "proposed"


async def test_a_withdraw_and_an_activation_sent_at_once_one_wins(
    client: httpx.AsyncClient, seed_offering: Seed, parties: dict[str, str], bearer: Bearer
) -> None:
    customer = bearer(roles=("customer",), party=parties["customer"])
    first = await seed_offering(targets=availability(0.99))
    second = await seed_offering(targets=availability(0.999), service_id=first["service_id"], version=2)
    aid = await _active(client, first, parties, customer)
    winners = set()
    for round_ in range(4):
        await _agreed_amendment(
            client, aid, second["offering_id"] if round_ % 2 == 0 else first["offering_id"], customer
        )
        head = (await client.get(f"/v1/agreements/{aid}")).json()["version"]
        in_force = (await client.get(f"/v1/agreements/{aid}")).json()["in_force_version"]
        withdraw, activate = await asyncio.gather(
            client.post(f"/v1/agreements/{aid}/withdraw"), client.post(f"/v1/agreements/{aid}/activate")
        )
        assert sorted((withdraw.status_code, activate.status_code)) == [200, 409], (withdraw.text, activate.text)
        shown = (await client.get(f"/v1/agreements/{aid}")).json()
        status = (await client.get(f"/v1/agreements/{aid}/versions/{head}")).json()["status"]
        assert shown["state"] == "active"
        if withdraw.status_code == 200:
            winners.add("withdraw")
            assert (shown["in_force_version"], shown["version"], status) == (in_force, in_force, "withdrawn")
        else:
            winners.add("activate")
            assert (shown["in_force_version"], shown["version"], status) == (head, head, "active")
    assert winners  # which one wins is the databases' choice; never both, never neither
