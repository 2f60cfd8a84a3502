from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import nats
import pytest
from agreements_catalog_api import CatalogApi
from fastapi import FastAPI

from slm_agreements import catalog
from slm_agreements.config import Settings
from slm_agreements.main import build_app
from slm_shared.contracts.payloads_v2 import OfferingPublishedV2
from slm_shared.db import utcnow
from slm_shared.testing.app_client import running_app
from slm_shared.testing.nats_server import NatsServer
from slm_shared.testing.pytest_plugin import make_token

TARGETS = [
    {"indicator": "availability", "target": 0.999, "window": {"kind": "calendar", "unit": "month"}},
    {
        "indicator": "latency",
        "indicator_kind": "threshold",
        "target": 0.95,
        "op": "lte",
        "value": 300.0,
        "window": {"kind": "rolling", "duration": "28d"},
    },
]


@pytest.fixture(scope="session")
def catalog_api() -> Iterator[CatalogApi]:
    """One real catalog-like HTTP server on loopback for the whole run."""
    api = CatalogApi()
    api.start()
    yield api
    api.stop()


@pytest.fixture
def settings(database_url: str, nats_server: NatsServer, catalog_api: CatalogApi) -> Settings:
    return Settings(
        database_url=database_url,
        **nats_server.service_login("agreements"),
        environment="test",
        catalog_url=catalog_api.url,
        catalog_timeout_seconds=2.0,
        outbox_poll_seconds=0.2,
        jobs_interval_seconds=0.2,
    )


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    return build_app(settings)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(app, token=make_token("acme", ("manager",))) as client:
        yield client


def breach_data(agreement_id: str, objective_id: str) -> dict[str, Any]:
    """The data of an objective-breached event of the agreement's objective (service `payments`), observed now."""
    now = datetime.now(UTC).isoformat()
    return {
        "agreement_id": agreement_id,
        "objective_id": objective_id,
        "service_key": "payments",
        "indicator": "availability",
        "status": "breached",
        "previous_status": "at_risk",
        "objective": 0.999,
        "attainment": 0.99,
        "good": 99,
        "total": 100,
        "window_start": now,
        "window_end": now,
        "observed_at": now,
    }


def _bearer(tenant: str = "acme", roles: tuple[str, ...] = ("manager",), party: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_token(tenant, roles, party)}"}


@pytest.fixture
def bearer() -> Callable[..., dict[str, str]]:
    """Authorization headers for another tenant, role or party."""
    return _bearer


@pytest.fixture
def seed_offering(app: FastAPI) -> Callable[..., Awaitable[dict[str, str]]]:
    """Put a published offering into the read model, as the catalog event would."""

    async def seed(
        tenant: str = "acme",
        targets: list[dict[str, Any]] | None = None,
        service_id: str | None = None,
        service_key: str = "payments",
        **extra: Any,
    ) -> dict[str, str]:
        service_id, offering_id = service_id or str(uuid.uuid4()), str(uuid.uuid4())
        payload = OfferingPublishedV2.model_validate(
            {
                "offering_id": offering_id,
                "service_id": service_id,
                "service_key": service_key,
                "name": "Gold",
                "version": 1,
                "targets": targets or TARGETS,
                **extra,
            }
        )
        async with app.state.db.session() as session:
            await catalog.store_published_offering(session, tenant, payload, utcnow())
        return {"service_id": service_id, "offering_id": offering_id}

    return seed


SAM = [{"name": "Sam", "email": "sam@example.com", "role": "service_level_manager", "escalation_level": 1}]


@pytest.fixture
async def parties(client: httpx.AsyncClient) -> dict[str, str]:
    """A customer, another customer, an internal team and a supplier in tenant acme."""
    ids = {}
    for key, name, kind in (
        ("customer", "Acme Retail", "customer"),
        ("other_customer", "Acme Bank", "customer"),
        ("internal", "Platform Team", "internal"),
        ("supplier", "Cloud Co", "supplier"),
    ):
        contacts = SAM if key == "customer" else []  # Sam can own the customer's agreements' actions
        response = await client.post("/v1/parties", json={"name": name, "kind": kind, "contacts": contacts})
        assert response.status_code == 201, response.text
        ids[key] = response.json()["id"]
    return ids


@pytest.fixture
def published_events(nats_server: NatsServer) -> Callable[..., Awaitable[list[Any]]]:
    """Reads every message on a subject about one agreement from JetStream."""

    async def read(subject: str, agreement_id: str, *, settle: float = 0.6) -> list[Any]:
        return await _published_events(nats_server.url, subject, agreement_id, settle=settle)

    return read


async def _published_events(nats_url: str, subject: str, agreement_id: str, *, settle: float) -> list[Any]:
    """Every message on `subject` about the agreement, once at least one arrived and a pause passed."""
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()

        async def read_all() -> list[Any]:
            try:
                sub = await js.pull_subscribe(subject, durable=None, stream="SLM_AGREEMENTS")
            except nats.js.errors.NotFoundError:
                return []
            found = []
            while True:
                try:
                    batch = await sub.fetch(200, timeout=0.3)
                except TimeoutError:
                    break
                found += [m for m in batch if json.loads(m.data).get("agreement_id") == agreement_id]
            await sub.unsubscribe()
            return found

        for _ in range(50):
            if await read_all():
                break
            await asyncio.sleep(0.2)
        await asyncio.sleep(settle)
        return await read_all()
    finally:
        await nc.close()
