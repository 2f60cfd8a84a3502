"""Activation rules over HTTP: measurable objectives, consistent dates, no overlap, and the supporting chain."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
from agreements_catalog_api import CatalogApi
from fastapi import FastAPI

from slm_agreements.catalog import repository as catalog_repository
from slm_shared.bus import Bus
from slm_shared.testing.nats_server import NatsServer

Bearer = Callable[..., dict[str, str]]
Seed = Callable[..., Awaitable[dict[str, str]]]
MONTH = {"kind": "calendar", "unit": "month"}


def availability(objective: float) -> list[dict[str, Any]]:
    return [{"indicator": "availability", "target": objective, "window": MONTH}]


async def agree(client: httpx.AsyncClient, body: dict[str, Any], customer: dict[str, str] | None = None) -> str:
    created = await client.post("/v1/agreements", json=body)
    assert created.status_code == 201, created.text
    aid = created.json()["id"]
    await client.post(f"/v1/agreements/{aid}/propose")
    await client.post(f"/v1/agreements/{aid}/accept")
    if customer is not None:
        await client.post(f"/v1/agreements/{aid}/accept", headers=customer)
    assert (await client.get(f"/v1/agreements/{aid}")).json()["state"] == "agreed"
    return aid


async def test_chain_gaps_are_listed_then_covered_then_overridden(
    client: httpx.AsyncClient,
    seed_offering: Seed,
    parties: dict[str, str],
    bearer: Bearer,
    catalog_api: CatalogApi,
    published_events: Callable[..., Awaitable[list[Any]]],
) -> None:
    customer = bearer(roles=("customer",), party=parties["customer"])
    db, net = (
        await seed_offering(service_key="database", targets=availability(0.9995)),
        await seed_offering(service_key="network", targets=availability(0.9995)),
    )
    sla_offering = await seed_offering(targets=availability(0.9995))
    catalog_api.supporting[sla_offering["service_id"]] = [
        {"id": db["service_id"], "key": "database", "depth": 1},
        {"id": net["service_id"], "key": "network", "depth": 2},
    ]
    sla = await agree(
        client, {"kind": "SLA", "name": "Pay", "consumer_party_id": parties["customer"], **sla_offering}, customer
    )
    refused = await client.post(f"/v1/agreements/{sla}/activate")
    assert refused.status_code == 422 and refused.headers["content-type"] == "application/problem+json"
    assert [(g["rule"], g["service_key"]) for g in refused.json()["gaps"]] == [
        ("chain", "database"),
        ("chain", "network"),
    ]
    assert {e["field"] for e in refused.json()["errors"]} == {"chain.database", "chain.network"}

    calendar = {"key": "office", "name": "Office", "timezone": "Europe/Lisbon", "hours": [], "holidays": []}
    catalog_api.calendars["office"] = calendar
    window = {"start": "2030-01-01T01:00:00Z", "end": "2030-01-01T03:00:00Z", "reason": "upgrade"}
    ola_body = {
        "kind": "OLA",
        "name": "DB",
        "consumer_party_id": parties["internal"],
        "support_calendar": "office",
        "maintenance_windows": [window],
        "ticket_targets": [{"priority": "P1", "response_seconds": 600}],
        "price": {"amount": "10", "currency": "EUR"},
        "service_credits": [{"below": 0.999, "credit_percent": "5"}],
        **db,
    }
    ola = await agree(client, ola_body)
    assert (await client.post(f"/v1/agreements/{ola}/activate")).status_code == 200
    uc_body = {
        "kind": "UC",
        "name": "Net",
        "provider_party_id": parties["supplier"],
        "consumer_party_id": parties["internal"],
        **net,
    }
    uc = await agree(client, uc_body)
    assert (await client.post(f"/v1/agreements/{uc}/activate")).status_code == 200

    short = await client.post(f"/v1/agreements/{sla}/activate")
    assert short.status_code == 422
    gap = short.json()["gaps"][0]
    assert gap["field"] == "objectives.0.target" and abs(gap["shortfall"] - (0.9995 - 0.9995**2)) < 1e-9
    assert "override" in short.json()["detail"]
    assert (
        await client.post(f"/v1/agreements/{sla}/activate", json={"override": True}, headers=customer)
    ).status_code == 403
    forced = await client.post(f"/v1/agreements/{sla}/activate", json={"override": True, "comment": "accepted"})
    assert forced.status_code == 200, forced.text
    assert [r["service_key"] for r in forced.json()["risks"]] == [gap["service_key"]]
    assert forced.json()["risks"][0]["accepted_by"]
    history = (await client.get(f"/v1/agreements/{sla}/history")).json()["items"]
    assert "accepted chain risks" in history[-1]["comment"]

    messages = await published_events("slm.agreements.agreement.activated", ola, settle=0.2)
    payload = json.loads(messages[0].data)
    assert payload["maintenance_windows"][0]["reason"] == "upgrade"
    assert payload["ticket_targets"] == [{"priority": "P1", "response_seconds": 600, "resolution_seconds": None}]
    assert payload["calendar"]["timezone"] == "Europe/Lisbon"
    assert payload["credit_schedule"][0]["below"] == 0.999 and payload["price"]["currency"] == "EUR"


async def test_every_other_gap_is_listed_and_cannot_be_overridden(
    client: httpx.AsyncClient, seed_offering: Seed, parties: dict[str, str], bearer: Bearer
) -> None:
    customer = bearer(roles=("customer",), party=parties["customer"])
    offering = await seed_offering()
    base = {"kind": "SLA", "name": "Pay", "consumer_party_id": parties["customer"], **offering}
    first = await agree(client, base, customer)
    assert (await client.post(f"/v1/agreements/{first}/activate")).status_code == 200

    made_up = {"indicator": "made_up", "target": 0.9, "window": MONTH}
    past = {"effective_from": "2020-01-01T00:00:00Z", "effective_to": "2021-01-01T00:00:00Z"}
    stale = await agree(client, {**base, **past, "objectives": [made_up]}, customer)
    refused = await client.post(f"/v1/agreements/{stale}/activate", json={"override": True})
    assert refused.status_code == 422
    assert {(e["type"], e["field"]) for e in refused.json()["errors"]} == {
        ("measurable", "objectives.2.indicator"),
        ("dates", "effective_to"),
    }
    overlapping = await agree(client, base, customer)
    overlap = await client.post(f"/v1/agreements/{overlapping}/activate")
    assert overlap.status_code == 422 and overlap.json()["errors"][0]["type"] == "overlap"
    assert first in overlap.json()["errors"][0]["message"]
    assert (await client.get(f"/v1/agreements/{overlapping}")).json()["state"] == "agreed"


async def test_dependency_events_feed_the_chain_check(
    app: FastAPI,
    client: httpx.AsyncClient,
    seed_offering: Seed,
    parties: dict[str, str],
    bearer: Bearer,
    nats_server: NatsServer,
    catalog_api: CatalogApi,
) -> None:
    sla_offering = await seed_offering(targets=availability(0.999))
    service_id, supporting_id = sla_offering["service_id"], str(uuid.uuid4())
    bus = Bus(nats_server.url, name="catalog-test")
    await bus.connect(attempts=5)
    try:
        await bus.ensure_platform_streams()
        event_id = str(uuid.uuid4())
        headers = {
            "ce-specversion": "1.0",
            "ce-id": event_id,
            "ce-source": "/slm/catalog",
            "ce-type": "slm.catalog.dependency.added.v1",
            "ce-time": datetime.now(UTC).isoformat(),
            "ce-tenant": "acme",
            "content-type": "application/json",
            "Nats-Msg-Id": event_id,
        }
        data = {
            "service_id": service_id,
            "service_key": "payments",
            "supporting_service_id": supporting_id,
            "supporting_service_key": "queue",
        }
        await bus.js.publish("slm.catalog.dependency.added", json.dumps(data).encode(), headers=headers)
    finally:
        await bus.close()
    for _ in range(100):
        async with app.state.db.session() as session:
            if await catalog_repository.dependency_edges(session, tenant="acme"):
                break
        await asyncio.sleep(0.1)
    customer = bearer(roles=("customer",), party=parties["customer"])
    sla = await agree(
        client, {"kind": "SLA", "name": "Pay", "consumer_party_id": parties["customer"], **sla_offering}, customer
    )
    refused = await client.post(f"/v1/agreements/{sla}/activate")
    assert refused.status_code == 422 and refused.json()["gaps"][0]["service_key"] == "queue"
    assert not [r for r in catalog_api.requests if service_id in r[1]]  # answered by the read model, not REST
