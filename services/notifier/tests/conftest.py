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
from smtp_server import SmtpServer

from slm_notifier.channels import SafeHttp, TicketStore
from slm_notifier.config import Settings
from slm_notifier.main import build_app
from slm_shared import migrations
from slm_shared.bus import Bus
from slm_shared.contracts import CloudEvent
from slm_shared.contracts.payloads import AgreementActivatedV1, BurnAlertV1, ObjectiveStatusV1
from slm_shared.contracts.registry import spec_for_type
from slm_shared.db import Database
from slm_shared.testing.app_client import running_app
from slm_shared.testing.nats_server import NatsServer
from slm_shared.testing.pytest_plugin import make_token

WHEN = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
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


STOPPED = {"firing": False, "long_burn_rate": 0.5, "short_burn_rate": 0.2}  # burn_alert(**STOPPED): the tier stopped


def burn_alert(**overrides: Any) -> BurnAlertV1:
    """Burn-rate tier `fast` (a page) of objective obj-1 of agreement agr-1 firing, observed at WHEN."""
    values: dict[str, Any] = {
        "agreement_id": "agr-1",
        "objective_id": "obj-1",
        "objective_row_id": "row-1",
        "service_key": "ledger",
        "indicator": "availability",
        "tier": "fast",
        "severity": "page",
        "firing": True,
        "long_window": "2h",
        "short_window": "10m",
        "long_burn_rate": 40.0,
        "short_burn_rate": 50.0,
        "threshold_factor": 6.0,
        "budget_share": 0.0179,
        "objective": 0.999,
        "observed_at": WHEN,
    }
    return BurnAlertV1.model_validate({**values, **overrides})


def agreement_activated(agreement_id: str = "agr-1", **overrides: Any) -> AgreementActivatedV1:
    """`Gold for Acme` on service payments, from provider party-ops to party-acme, in force from now."""
    values: dict[str, Any] = {
        "agreement_id": agreement_id,
        "version": 1,
        "kind": "SLA",
        "name": "Gold for Acme",
        "service_id": "s",
        "service_key": "payments",
        "consumer_party_id": "party-acme",
        "provider_party_id": "party-ops",
        "effective_from": datetime.now().astimezone(),
        "objectives": [],
    }
    return AgreementActivatedV1.model_validate({**values, **overrides})


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


@pytest.fixture
def http() -> SafeHttp:
    return SafeHttp(allow_private_targets=True, timeout_seconds=5)


@pytest.fixture
async def tickets(database_url: str) -> AsyncIterator[TicketStore]:
    await migrations.upgrade("slm_notifier", database_url)
    db = Database(database_url)
    yield TicketStore(db)
    await db.dispose()


def smtp_settings(server: SmtpServer) -> dict[str, Any]:
    return {
        "smtp_host": "127.0.0.1",
        "smtp_port": server.port,
        "smtp_starttls": True,
        "smtp_username": "mailer",
        "smtp_password": "s3cret",
        "smtp_ca_file": str(server.cert),
        "smtp_from": "slm@example.com",
        "escalation_poll_seconds": 0.1,
        "public_url": "http://testserver",
    }


async def mails(server: SmtpServer, count: int, timeout: float = 10) -> list[Any]:
    async def arrived() -> bool:
        return len(server.mailbox.messages) >= count

    await wait_until(arrived, timeout=timeout)
    return list(server.mailbox.messages)
