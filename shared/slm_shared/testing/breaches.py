"""Objective-breached events published straight to JetStream, as measurement would publish them."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

from nats.js import JetStreamContext

from slm_shared.contracts.envelope import CloudEvent
from slm_shared.contracts.payloads import ObjectiveStatusV1
from slm_shared.contracts.registry import EVENTS


def breach(n: int) -> ObjectiveStatusV1:
    """The breach of objective `obj-<n>` of agreement `agr-<n>` (service `payments`), observed now."""
    now = datetime.now(UTC)
    return ObjectiveStatusV1(
        agreement_id=f"agr-{n}",
        objective_id=f"obj-{n}",
        service_key="payments",
        indicator="availability",
        status="breached",
        previous_status="healthy",
        objective=0.999,
        attainment=0.995,
        good=995,
        total=1000,
        window_start=now,
        window_end=now,
        observed_at=now,
        severity="critical",
    )


def breach_events(tenant: str, count: int, *, start: int = 0) -> list[CloudEvent]:
    """`count` breach events of distinct objectives for one tenant."""
    return [EVENTS.objective_breached.build(tenant=tenant, data=breach(n)) for n in range(start, start + count)]


async def publish_events(js: JetStreamContext, events: list[CloudEvent], *, pipelined: bool = True) -> None:
    """Publish events as the outbox relay does (binary CloudEvents, `Nats-Msg-Id` = event id)."""
    spec = EVENTS.objective_breached

    async def publish(event: CloudEvent) -> None:
        headers = {**event.headers(), "Nats-Msg-Id": event.id}
        await js.publish(spec.subject, json.dumps(event.data).encode(), headers=headers)

    if pipelined:
        await asyncio.gather(*(publish(event) for event in events))
    else:
        for event in events:
            await publish(event)
