"""The catalogue read model: fed by catalog events on NATS, or fetched from the catalog's REST API."""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from slm_agreements.catalog import repository
from slm_agreements.config import Settings
from slm_shared.bus import Bus
from slm_shared.testing.nats_server import NatsServer
from slm_shared.testing.ports import free_port

TARGET = {"indicator": "availability", "target": 0.995, "window": {"kind": "rolling", "duration": "30d"}}


async def wait_for_offering(app: FastAPI, tenant: str, offering_id: str) -> Any:
    for _ in range(100):
        async with app.state.db.session() as session:
            found = await repository.get_catalog_offering(session, tenant=tenant, offering_id=offering_id)
            service = (
                await repository.get_catalog_service(session, tenant=tenant, service_id=found.service_id)
                if found
                else None
            )
        if found is not None:
            return found, service
        await asyncio.sleep(0.1)
    raise AssertionError(f"offering {offering_id} never reached the read model")


async def publish(js: Any, subject: str, event_type: str, data: dict[str, Any], tenant: str = "acme") -> None:
    event_id = str(uuid.uuid4())
    headers = {
        "ce-specversion": "1.0",
        "ce-id": event_id,
        "ce-source": "/slm/catalog",
        "ce-type": event_type,
        "ce-time": datetime.now(UTC).isoformat(),
        "ce-tenant": tenant,
        "content-type": "application/json",
        "Nats-Msg-Id": event_id,
    }
    await js.publish(subject, json.dumps(data).encode(), headers=headers)


async def test_catalog_events_feed_the_read_model(
    app: FastAPI, client: httpx.AsyncClient, parties: dict[str, str], nats_server: NatsServer
) -> None:
    service_id, offering_id = str(uuid.uuid4()), str(uuid.uuid4())
    bus = Bus(nats_server.url, name="catalog-test")
    await bus.connect(attempts=5)
    try:
        await bus.ensure_platform_streams()
        service = {"service_id": service_id, "key": "search", "name": "Search"}
        await publish(bus.js, "slm.catalog.service.created", "slm.catalog.service.created.v1", service)
        await publish(
            bus.js,
            "slm.catalog.service.updated",
            "slm.catalog.service.updated.v1",
            {**service, "name": "Enterprise Search"},
        )
        offering = {
            "offering_id": offering_id,
            "service_id": service_id,
            "service_key": "search",
            "name": "Silver",
            "version": 2,
            "targets": [TARGET],
        }
        await publish(bus.js, "slm.catalog.offering.published", "slm.catalog.offering.published.v2", offering)
    finally:
        await bus.close()

    stored, stored_service = await wait_for_offering(app, "acme", offering_id)
    assert stored.source == "event" and stored.version == 2
    for _ in range(50):  # the service events may be applied just after the offering
        async with app.state.db.session() as session:
            stored_service = await repository.get_catalog_service(session, tenant="acme", service_id=service_id)
        if stored_service is not None and stored_service.name == "Enterprise Search":
            break
        await asyncio.sleep(0.1)
    assert stored_service is not None and stored_service.name == "Enterprise Search"

    # the catalog's REST API is not running here: success can only come from the read model
    created = await client.post(
        "/v1/agreements",
        json={
            "kind": "SLA",
            "name": "Search Silver",
            "service_id": service_id,
            "offering_id": offering_id,
            "consumer_party_id": parties["customer"],
        },
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["service_key"], body["offering_version"]) == ("search", 2)
    assert [(o["indicator"], o["target"], o["customer_specific"]) for o in body["objectives"]] == [
        ("availability", 0.995, False)
    ]
    assert body["objectives"][0]["window"]["duration"] == "30d"


class FakeCatalog:
    """A real HTTP server on a loopback port that answers like the catalog's REST API."""

    def __init__(self) -> None:
        self.port = free_port()
        self.documents: dict[str, dict[str, Any]] = {}
        self.authorizations: list[str | None] = []
        api = FastAPI()

        @api.get("/v1/{collection}/{item_id}")
        async def read(collection: str, item_id: str, request: Request) -> JSONResponse:
            self.authorizations.append(request.headers.get("authorization"))
            document = self.documents.get(f"{collection}/{item_id}")
            if document is None:
                return JSONResponse({"title": "Not Found", "status": 404}, status_code=404)
            return JSONResponse(document)

        # another party's server, not ours (slm_shared.cli): asyncio's loop and uvicorn's strict parser, h11
        config = uvicorn.Config(api, host="127.0.0.1", port=self.port, loop="asyncio", http="h11", log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def add(self, *, status: str = "published") -> tuple[str, str]:
        service_id, offering_id = str(uuid.uuid4()), str(uuid.uuid4())
        now = datetime.now(UTC).isoformat()
        self.documents[f"services/{service_id}"] = {
            "id": service_id,
            "key": "mail",
            "name": "Mail",
            "description": "",
            "type": "business",
            "lifecycle": "live",
            "owner_team": None,
            "owner_contact": None,
            "tags": [],
            "version": 1,
            "created_at": now,
            "updated_at": now,
        }
        self.documents[f"offerings/{offering_id}"] = {
            "id": offering_id,
            "service_id": service_id,
            "name": "Bronze",
            "description": "",
            "version": 1,
            "status": status,
            "price": {"amount": "100.0000", "currency": "EUR", "period": "month"},
            "targets": [TARGET],
            "published_at": now if status == "published" else None,
            "created_at": now,
        }
        return service_id, offering_id


@pytest.fixture
def fake_catalog() -> Iterator[FakeCatalog]:
    catalog = FakeCatalog()
    catalog.thread.start()
    for _ in range(200):
        if catalog.server.started:
            break
        threading.Event().wait(0.02)
    yield catalog
    catalog.server.should_exit = True
    catalog.thread.join(timeout=10)


@pytest.fixture
def settings(settings: Settings, fake_catalog: FakeCatalog, request: pytest.FixtureRequest) -> Settings:
    """Point the service at the fake catalog, except in the event test, which proves it needs none."""
    if request.node.originalname == "test_catalog_events_feed_the_read_model":
        return settings.model_copy(update={"catalog_url": f"http://127.0.0.1:{free_port()}"})
    return settings.model_copy(update={"catalog_url": fake_catalog.url})


async def test_unknown_offering_is_fetched_from_the_catalog_with_the_callers_token(
    app: FastAPI, client: httpx.AsyncClient, parties: dict[str, str], fake_catalog: FakeCatalog
) -> None:
    service_id, offering_id = fake_catalog.add()
    body = {
        "kind": "SLA",
        "name": "Mail Bronze",
        "service_id": service_id,
        "offering_id": offering_id,
        "consumer_party_id": parties["customer"],
    }
    created = await client.post("/v1/agreements", json=body)
    assert created.status_code == 201, created.text
    assert created.json()["service_key"] == "mail"
    assert created.json()["objectives"][0]["target"] == 0.995
    assert fake_catalog.authorizations == [client.headers["Authorization"]] * 2

    stored, service = await wait_for_offering(app, "acme", offering_id)
    assert stored.source == "rest" and service.key == "mail"
    again = await client.post("/v1/agreements", json={**body, "name": "Mail Bronze 2"})
    assert again.status_code == 201
    assert len(fake_catalog.authorizations) == 2  # served from the read model this time


async def test_offerings_the_catalog_does_not_have_are_refused(
    client: httpx.AsyncClient, parties: dict[str, str], fake_catalog: FakeCatalog
) -> None:
    body = {"kind": "SLA", "name": "n", "service_id": "s", "consumer_party_id": parties["customer"]}
    unknown = await client.post("/v1/agreements", json={**body, "offering_id": "no-such-offering"})
    assert unknown.status_code == 422
    assert unknown.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in unknown.json()["errors"]] == ["offering_id"]

    service_id, draft_id = fake_catalog.add(status="draft")
    draft = await client.post("/v1/agreements", json={**body, "service_id": service_id, "offering_id": draft_id})
    assert draft.status_code == 422 and "draft" in draft.json()["detail"]


async def test_an_unreachable_catalog_is_a_503_problem(
    client: httpx.AsyncClient, parties: dict[str, str], fake_catalog: FakeCatalog
) -> None:
    fake_catalog.server.should_exit = True
    await asyncio.to_thread(fake_catalog.thread.join, 10)
    body = {"kind": "SLA", "name": "n", "service_id": "s", "offering_id": "o", "consumer_party_id": parties["customer"]}
    response = await client.post("/v1/agreements", json=body)
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
