"""Reviews, improvement actions, expiry with renewal reminders, and agreements started from a requirement."""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
from agreements_catalog_api import CatalogApi
from conftest import breach_data

from slm_shared.bus import Bus
from slm_shared.testing.nats_server import NatsServer

Bearer = Callable[..., dict[str, str]]
Seed = Callable[..., Awaitable[dict[str, str]]]
Events = Callable[..., Awaitable[list[Any]]]


async def active_sla(
    client: httpx.AsyncClient, offering: dict[str, str], parties: dict[str, str], bearer: Bearer, **terms: Any
) -> str:
    body = {"kind": "SLA", "name": "Pay", "consumer_party_id": parties["customer"], **offering, **terms}
    created = await client.post("/v1/agreements", json=body)
    assert created.status_code == 201, created.text
    aid = created.json()["id"]
    await client.post(f"/v1/agreements/{aid}/propose")
    await client.post(f"/v1/agreements/{aid}/accept")
    await client.post(f"/v1/agreements/{aid}/accept", headers=bearer(roles=("customer",), party=parties["customer"]))
    activated = await client.post(f"/v1/agreements/{aid}/activate")
    assert activated.status_code == 200, activated.text
    return aid


async def publish_breach(nats_url: str, agreement_id: str, objective_id: str) -> None:
    bus = Bus(nats_url, name="measurement-test")
    await bus.connect(attempts=5)
    try:
        await bus.ensure_platform_streams()
        event_id, data = str(uuid.uuid4()), breach_data(agreement_id, objective_id)
        headers = {
            "ce-specversion": "1.0",
            "ce-id": event_id,
            "ce-source": "/slm/measurement",
            "ce-type": "slm.measurement.objective.breached.v1",
            "ce-time": data["observed_at"],
            "ce-tenant": "acme",
            "content-type": "application/json",
            "Nats-Msg-Id": event_id,
        }
        await bus.js.publish("slm.measurement.objective.breached", json.dumps(data).encode(), headers=headers)
    finally:
        await bus.close()


async def test_reviews_and_improvement_actions(
    client: httpx.AsyncClient,
    seed_offering: Seed,
    parties: dict[str, str],
    bearer: Bearer,
    published_events: Events,
    nats_server: NatsServer,
) -> None:
    start = datetime.now(UTC) - timedelta(days=25)
    aid = await active_sla(
        client, await seed_offering(), parties, bearer, effective_from=start.isoformat(), review_cycle="monthly"
    )
    customer = bearer(roles=("customer",), party=parties["customer"])
    reviews = (await client.get(f"/v1/agreements/{aid}/reviews", headers=customer)).json()
    assert len(reviews) == 12 and all(r["status"] == "scheduled" for r in reviews)
    assert reviews[0]["due_on"] > date.today().isoformat()
    due = await published_events("slm.agreements.review.due", aid, settle=0.3)
    assert [json.loads(m.data)["review_id"] for m in due] == [reviews[0]["id"]]  # only the one inside the notice

    record = {
        "review_id": reviews[0]["id"],
        "held_on": date.today().isoformat(),
        "attendees": ["Ana", "Sam"],
        "summary": "latency slipping",
        "decisions": ["add capacity"],
    }
    assert (await client.post(f"/v1/agreements/{aid}/reviews", json=record, headers=customer)).status_code == 403
    held = await client.post(f"/v1/agreements/{aid}/reviews", json=record)
    assert held.status_code == 201 and held.json()["status"] == "held"
    assert (await client.post(f"/v1/agreements/{aid}/reviews", json=record)).status_code == 409
    assert await published_events("slm.agreements.review.held", aid, settle=0.2)

    objective_id = (await client.get(f"/v1/agreements/{aid}")).json()["objectives"][0]["id"]
    action = {
        "title": "Add capacity",
        "owner": "sam",
        "due_on": (date.today() - timedelta(days=1)).isoformat(),
        "source": "review",
        "review_id": reviews[0]["id"],
        "objective_id": objective_id,
    }
    bad = await client.post(f"/v1/agreements/{aid}/actions", json={**action, "review_id": None, "objective_id": "x"})
    assert bad.status_code == 422 and {e["field"] for e in bad.json()["errors"]} == {"objective_id", "review_id"}
    created = await client.post(f"/v1/agreements/{aid}/actions", json=action)
    assert created.status_code == 201, created.text
    action_id = created.json()["id"]
    overdue = await published_events("slm.agreements.action.overdue", aid, settle=0.3)
    assert [json.loads(m.data)["action_id"] for m in overdue] == [action_id]
    change = await client.post(f"/v1/actions/{action_id}/change-request", json={"priority": "high"})
    assert change.status_code == 202
    requested = await published_events("slm.agreements.change.requested", aid, settle=0.2)
    assert json.loads(requested[0].data)["summary"] == "Add capacity"
    stale = await client.patch(
        f"/v1/actions/{action_id}", json={"status": "done"}, headers={"If-Match": created.headers["ETag"]}
    )
    assert stale.status_code == 412
    done = await client.patch(f"/v1/actions/{action_id}", json={"status": "done"})
    assert done.json()["status"] == "done"
    updated = await published_events("slm.agreements.action.updated", aid, settle=0.2)
    assert [json.loads(m.data)["status"] for m in updated] == ["done"]
    assert (await client.post(f"/v1/actions/{action_id}/change-request", json={})).status_code == 409
    globex = bearer(tenant="globex", roles=("admin",))
    assert (await client.get(f"/v1/actions/{action_id}", headers=globex)).status_code == 404
    assert (await client.get(f"/v1/agreements/{aid}/reviews", headers=globex)).status_code == 404

    await publish_breach(nats_server.url, aid, objective_id)
    from_breach = await published_events("slm.agreements.action.created", aid, settle=0.3)
    sources = sorted(json.loads(m.data)["source"] for m in from_breach)
    assert sources == ["breach", "review"]
    listed = (await client.get(f"/v1/agreements/{aid}/actions", params={"status": "open"}, headers=customer)).json()
    assert [a["source"] for a in listed["items"]] == ["breach"]

    # A breach of an objective measurement judges but the agreement does not list (ticket compliance) is not
    # dead-lettered: it opens an action that names the objective in its description and links none.
    await publish_breach(nats_server.url, aid, "ticket-compliance")
    created_now = await published_events("slm.agreements.action.created", aid, settle=0.5)
    assert len(created_now) == 3
    opened = (await client.get(f"/v1/agreements/{aid}/actions", params={"status": "open"})).json()["items"]
    assert sorted(str(a["objective_id"]) for a in opened) == sorted([objective_id, "None"])
    dead = await client.get("/v1/dead-letters", headers=bearer(roles=("admin",)))
    assert dead.status_code == 200 and dead.json()["total"] == 0, dead.text


async def test_expiry_with_a_renewal_reminder_first(
    client: httpx.AsyncClient, seed_offering: Seed, parties: dict[str, str], bearer: Bearer, published_events: Events
) -> None:
    end = datetime.now(UTC) + timedelta(seconds=15)  # room for activation on a loaded machine before the term ends
    aid = await active_sla(client, await seed_offering(), parties, bearer, effective_to=end.isoformat())
    reminders = await published_events("slm.agreements.agreement.renewal_due", aid, settle=0.2)
    assert len(reminders) == 1 and json.loads(reminders[0].data)["version"] == 1
    expired = await published_events("slm.agreements.agreement.expired", aid, settle=0.2)
    assert len(expired) == 1
    ended = await published_events("slm.agreements.agreement.ended", aid, settle=0.2)
    assert [json.loads(m.data)["reason"] for m in ended] == ["expired"]
    body = (await client.get(f"/v1/agreements/{aid}")).json()
    assert (body["state"], body["in_force_version"]) == ("expired", None)
    history = (await client.get(f"/v1/agreements/{aid}/history")).json()["items"]
    assert (history[-1]["action"], history[-1]["actor_subject"]) == ("expire", "system")


async def test_a_requirement_starts_an_agreement(
    client: httpx.AsyncClient, seed_offering: Seed, parties: dict[str, str], catalog_api: CatalogApi
) -> None:
    offering = await seed_offering()
    gap = {
        "requirement": "targets.0",
        "message": "availability 99.99% wanted, 99.9% offered",
        "wanted": "0.9999",
        "offered": "0.999",
        "shortfall": 0.0009,
        "unit": "%",
    }
    catalog_api.matches[offering["service_id"]] = {
        "outcome": "customer_specific_service",
        "needs_customer_specific_service": True,
        "matches": [],
        "unmet": [],
        "closest": [
            {
                "service": {
                    "id": offering["service_id"],
                    "key": "payments",
                    "name": "P",
                    "type": "business",
                    "lifecycle": "live",
                },
                "tier": {"offering_id": offering["offering_id"], "name": "Gold", "version": 1},
                "meets": False,
                "gaps": [gap],
            }
        ],
    }
    body = {
        "name": "Retail",
        "consumer_party_id": parties["customer"],
        "requirement": {
            "service_id": offering["service_id"],
            "targets": [{"indicator": "availability", "target": 0.9999}],
        },
    }
    created = await client.post("/v1/agreements/from-requirement", json=body)
    assert created.status_code == 201, created.text
    agreement = created.json()
    objectives = {o["indicator"]: o for o in agreement["objectives"]}
    assert objectives["availability"]["target"] == 0.9999 and objectives["availability"]["customer_specific"]
    assert not objectives["latency"]["customer_specific"]
    assert agreement["requirement"]["needs_customer_specific_service"]
    assert agreement["requirement"]["customer_specific"][0]["indicator"] == "availability"
    unknown = await client.post("/v1/agreements/from-requirement", json={**body, "requirement": {"service_id": "nope"}})
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "requirement.service_id"
