"""Catalog part of the platform thread: services, offerings, and the events they publish."""

from __future__ import annotations

import asyncio
import json

import httpx
import nats

from slm_shared.testing.nats_server import NatsServer
from slm_shared.testing.pytest_plugin import make_token

OFFERING = {
    "name": "Gold",
    "price": {"amount": "1200.00", "currency": "EUR", "period": "month"},
    "targets": [
        {
            "indicator": "availability",
            "target": 0.999,
            "window": {"kind": "calendar", "unit": "month", "timezone": "Europe/Lisbon"},
        }
    ],
}


async def test_publishing_an_offering_emits_events(client: httpx.AsyncClient, nats_server: NatsServer) -> None:
    created = await client.post("/v1/services", json={"key": "payments", "name": "Payments"})
    assert created.status_code == 201, created.text
    service_id = created.json()["id"]
    offering = await client.post(f"/v1/services/{service_id}/offerings", json=OFFERING)
    assert offering.status_code == 201, offering.text
    published = await client.post(f"/v1/offerings/{offering.json()['id']}/publish")
    assert published.status_code == 200, published.text
    assert published.json()["status"] == "published"

    nc = await nats.connect(nats_server.url)
    try:
        js = nc.jetstream()
        sub = await js.pull_subscribe("slm.catalog.offering.published", durable=None, stream="SLM_CATALOG")
        for _ in range(50):
            msgs = []
            try:
                msgs = await sub.fetch(100, timeout=0.2)
            except TimeoutError:  # nats-py raises its own subclass or the plain one
                pass
            mine = [m for m in msgs if json.loads(m.data).get("offering_id") == offering.json()["id"]]
            if mine:
                break
            await asyncio.sleep(0.1)
        assert mine, "offering.published never reached JetStream"
        message = mine[0]
        assert message.headers["ce-type"] == "slm.catalog.offering.published.v2"
        assert message.headers["ce-tenant"] == "acme"
        assert message.headers["Nats-Msg-Id"] == message.headers["ce-id"]
        assert json.loads(message.data)["targets"][0]["target"] == 0.999
    finally:
        await nc.close()


async def test_other_tenant_cannot_read(client: httpx.AsyncClient) -> None:
    created = await client.post("/v1/services", json={"key": "search", "name": "Search"})
    service_id = created.json()["id"]
    other = {"Authorization": f"Bearer {make_token('globex')}"}
    assert (await client.get(f"/v1/services/{service_id}", headers=other)).status_code == 404
    listed = await client.get("/v1/services", headers=other)
    assert listed.json()["total"] == 0


async def test_if_match_and_idempotency(client: httpx.AsyncClient) -> None:
    first = await client.post("/v1/services", json={"key": "mail", "name": "Mail"}, headers={"Idempotency-Key": "k1"})
    again = await client.post("/v1/services", json={"key": "mail", "name": "Mail"}, headers={"Idempotency-Key": "k1"})
    assert again.status_code == 201 and again.json()["id"] == first.json()["id"]
    assert again.headers.get("Idempotent-Replayed") == "true"
    etag = first.headers["ETag"]
    ok = await client.patch(f"/v1/services/{first.json()['id']}", json={"name": "Mail 2"}, headers={"If-Match": etag})
    assert ok.status_code == 200
    stale = await client.patch(
        f"/v1/services/{first.json()['id']}", json={"name": "Mail 3"}, headers={"If-Match": etag}
    )
    assert stale.status_code == 412
    assert stale.headers["content-type"] == "application/problem+json"
