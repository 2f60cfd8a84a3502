"""Offerings: versions on editing a published tier, retirement, the customer view and the events."""

from __future__ import annotations

import asyncio

import httpx
import nats
from conftest import CUSTOMER, new_service, published_tier, tier

from slm_shared.testing.nats_server import NatsServer

GOLD = tier(
    "Gold",
    "1500.00",
    0.999,
    ticket_targets=[{"priority": "P1", "response_seconds": 900, "resolution_seconds": 14400}],
    service_credits=[
        {"below": 0.999, "down_to": 0.99, "credit_percent": "10"},
        {"below": 0.99, "down_to": 0.0, "credit_percent": "25"},
    ],
)


async def catalog_events(nats_server: NatsServer, subject_id: str, count: int) -> list[str]:
    """Event types that reached JetStream about one entity, waiting for at least `count`."""
    nc = await nats.connect(nats_server.url)
    try:
        sub = await nc.jetstream().pull_subscribe("slm.catalog.>", durable=None, stream="SLM_CATALOG")
        found: list[str] = []
        for _ in range(60):
            try:
                msgs = await sub.fetch(500, timeout=0.2)
            except TimeoutError:  # nats-py raises its own subclass or the plain one
                msgs = []
            found += [m.headers["ce-type"] for m in msgs if m.headers.get("ce-subject") == subject_id]
            if len(found) >= count:
                break
            await asyncio.sleep(0.1)
        return found
    finally:
        await nc.close()


async def test_editing_a_published_offering_makes_the_next_version(
    client: httpx.AsyncClient, nats_server: NatsServer
) -> None:
    service = await new_service(client, "payments")
    first = await published_tier(client, service["id"], GOLD)
    assert first["ticket_targets"][0]["response_seconds"] == 900
    assert (await client.post(f"/v1/offerings/{first['id']}/publish")).status_code == 409

    edited = await client.patch(f"/v1/offerings/{first['id']}", json={"price": {"amount": "1600", "currency": "EUR"}})
    assert edited.status_code == 201, edited.text
    second = edited.json()
    assert second["version"] == 2 and second["status"] == "draft" and second["id"] != first["id"]
    assert second["previous_version_id"] == first["id"] and second["targets"] == first["targets"]
    again = await client.patch(f"/v1/offerings/{first['id']}", json={"description": "x"})
    assert again.status_code == 409 and again.json()["draft_id"] == second["id"]

    etag = edited.headers["ETag"]
    draft_edit = await client.patch(
        f"/v1/offerings/{second['id']}", json={"description": "More"}, headers={"If-Match": etag}
    )
    assert draft_edit.status_code == 200 and draft_edit.json()["version"] == 2
    stale = await client.patch(
        f"/v1/offerings/{second['id']}", json={"description": "Less"}, headers={"If-Match": etag}
    )
    assert stale.status_code == 412

    assert (await client.post(f"/v1/offerings/{second['id']}/publish")).status_code == 200
    old = (await client.get(f"/v1/offerings/{first['id']}")).json()
    assert old["status"] == "superseded" and old["price"]["amount"] == "1500.0000"
    versions = (await client.get(f"/v1/offerings/{second['id']}/versions")).json()
    assert [(v["version"], v["status"]) for v in versions] == [(1, "superseded"), (2, "published")]
    assert (await client.get(f"/v1/offerings/{first['id']}", headers=CUSTOMER)).status_code == 404

    retired = await client.post(f"/v1/offerings/{second['id']}/retire")
    assert retired.status_code == 200 and retired.json()["status"] == "retired"
    assert (await client.patch(f"/v1/offerings/{second['id']}", json={"description": "x"})).status_code == 409
    same_name = await client.post(f"/v1/services/{service['id']}/offerings", json=GOLD)
    assert same_name.status_code == 409 and same_name.json()["errors"][0]["field"] == "name"

    assert await catalog_events(nats_server, first["id"], 2) == [
        "slm.catalog.offering.published.v2",
        "slm.catalog.offering.retired.v1",
    ]
    assert await catalog_events(nats_server, second["id"], 2) == [
        "slm.catalog.offering.published.v2",
        "slm.catalog.offering.retired.v1",
    ]


async def test_ticket_targets_and_credit_bands_are_checked(client: httpx.AsyncClient) -> None:
    service = await new_service(client, "desk")
    body = tier(
        "Gold",
        "1",
        0.99,
        ticket_targets=[{"priority": "P1", "response_seconds": 60}, {"priority": "P1", "resolution_seconds": 600}],
        service_credits=[
            {"below": 0.99, "down_to": 0.95, "credit_percent": 5},
            {"below": 0.97, "down_to": 0.9, "credit_percent": 10},
        ],
    )
    refused = await client.post(f"/v1/services/{service['id']}/offerings", json=body)
    assert {e["field"] for e in refused.json()["errors"]} == {"ticket_targets.1.priority", "service_credits.0.down_to"}
    backwards = tier(
        "Gold", "1", 0.99, ticket_targets=[{"priority": "P2", "response_seconds": 600, "resolution_seconds": 60}]
    )
    refused = await client.post(f"/v1/services/{service['id']}/offerings", json=backwards)
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "ticket_targets.0"


async def test_customer_view_and_comparison(client: httpx.AsyncClient, nats_server: NatsServer) -> None:
    service = await new_service(client, "hosting", description="Managed hosting")
    await new_service(client, "planned", lifecycle="pipeline")
    bronze = await published_tier(client, service["id"], tier("Bronze", "300", 0.99))
    await published_tier(
        client,
        service["id"],
        tier("Gold", "3600", 0.9995, ticket_targets=[{"priority": "P1", "response_seconds": 900}]),
    )
    silver_body = tier("Silver", "2400", 0.999)
    silver_body["price"] = {"amount": "2400", "currency": "EUR", "period": "quarter"}
    await published_tier(client, service["id"], silver_body)
    draft = await client.post(f"/v1/services/{service['id']}/offerings", json=tier("Platinum", "9000", 0.9999))
    assert draft.status_code == 201

    catalog = (await client.get("/v1/catalog", headers=CUSTOMER)).json()
    assert [entry["service"]["key"] for entry in catalog["items"]] == ["hosting"]
    tiers = catalog["items"][0]["tiers"]
    assert [(t["name"], t["monthly_price"]) for t in tiers] == [
        ("Bronze", "300.00"),
        ("Silver", "800.00"),
        ("Gold", "3600.00"),
    ]

    listed = (await client.get(f"/v1/services/{service['id']}/offerings", headers=CUSTOMER)).json()
    assert listed["total"] == 3 and "Platinum" not in {o["name"] for o in listed["items"]}
    assert (await client.get(f"/v1/offerings/{draft.json()['id']}", headers=CUSTOMER)).status_code == 404

    comparison = (await client.get(f"/v1/services/{service['id']}/comparison", headers=CUSTOMER)).json()
    assert [t["name"] for t in comparison["tiers"]] == ["Bronze", "Silver", "Gold"]
    row = comparison["targets"][0]
    assert row["indicator"] == "availability" and [v["target"] for v in row["values"]] == [0.99, 0.999, 0.9995]
    assert comparison["ticket_targets"] == [
        {"priority": "P1", "response_seconds": [None, None, 900], "resolution_seconds": [None, None, None]}
    ]
    assert (await client.post(f"/v1/offerings/{bronze['id']}/retire", headers=CUSTOMER)).status_code == 403
    assert "slm.catalog.service.created.v1" in await catalog_events(nats_server, service["id"], 1)
