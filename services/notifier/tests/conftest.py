from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from slm_notifier.config import Settings
from slm_notifier.main import build_app
from slm_shared.bus import Bus
from slm_shared.contracts import CloudEvent
from slm_shared.contracts.payloads import ObjectiveStatusV1
from slm_shared.contracts.registry import spec_for_type
from slm_shared.testing.app_client import running_app
from slm_shared.testing.nats_server import NatsServer
from slm_shared.testing.pytest_plugin import make_token

FAST = {
    "retry_base_seconds": 0.05,
    "retry_max_seconds": 0.2,
    "max_attempts": 4,
    "delivery_poll_seconds": 0.05,
    "attempt_timeout_seconds": 5.0,
    "outbox_poll_seconds": 0.2,
    "consumer_retry_delay_seconds": 0.2,
}


@pytest.fixture
def tenant() -> str:
    """A tenant of its own per test, so events left on the shared NATS server never cross tests."""
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def make_client(
    database_url: str, nats_server: NatsServer, tenant: str
) -> Callable[..., contextlib.AbstractAsyncContextManager[httpx.AsyncClient]]:
    """Run the notifier (API, consumer, delivery worker) with fast retries and optional overrides."""

    @contextlib.asynccontextmanager
    async def _run(**overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
        settings = Settings(
            database_url=database_url,
            **nats_server.service_login("notifier"),
            environment="test",
            **{**FAST, **overrides},
        )
        app = build_app(settings)
        async with running_app(app, token=make_token(tenant)) as client:
            await wait_until(lambda: _bus_ready(app), timeout=10)
            yield client

    return _run


async def _bus_ready(app: Any) -> bool:
    return bool(app.state.bus.is_connected)


@pytest.fixture
async def client(make_client: Callable[..., Any]) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client() as client:
        yield client


def objective_status(**overrides: Any) -> ObjectiveStatusV1:
    now = datetime.now(UTC)
    values: dict[str, Any] = {
        "agreement_id": "agr-1",
        "objective_id": "obj-1",
        "service_key": "payments",
        "indicator": "availability",
        "consumer_party_id": "party-1",
        "status": "breached",
        "previous_status": "at_risk",
        "objective": 0.999,
        "attainment": 0.995,
        "good": 995,
        "total": 1000,
        "window_start": now,
        "window_end": now,
        "observed_at": now,
        "severity": "critical",
    }
    return ObjectiveStatusV1(**{**values, **overrides})


@pytest.fixture
async def publish(nats_server: NatsServer) -> AsyncIterator[Callable[..., Awaitable[CloudEvent]]]:
    """Publish an event to JetStream the way the producers' outbox relay does."""
    bus = Bus(nats_server.url, name="test-publisher")
    await bus.connect(attempts=5)
    await bus.ensure_platform_streams()

    async def _publish(event: CloudEvent, *, msg_id: str | None = None) -> CloudEvent:
        spec = spec_for_type(event.type)
        assert spec is not None, event.type
        headers = {**event.headers(), "Nats-Msg-Id": msg_id or event.id}
        await bus.js.publish(spec.subject, json.dumps(event.data).encode(), headers=headers)
        return event

    yield _publish
    await bus.close()


async def wait_until(check: Callable[[], Awaitable[bool]], timeout: float = 15.0) -> None:
    """Poll an async condition until it holds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


async def delivery_in(client: httpx.AsyncClient, delivery_id: str, *statuses: str) -> dict[str, Any]:
    """Wait for a delivery to reach one of `statuses` and return its detail."""
    found: dict[str, Any] = {}

    async def _check() -> bool:
        nonlocal found
        found = (await client.get(f"/v1/deliveries/{delivery_id}")).json()
        return found.get("status") in statuses

    await wait_until(_check)
    return found
