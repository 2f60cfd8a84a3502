"""Helpers shared by the measurement tests: agreements, points and JetStream counting."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import nats
import nats.errors
from nats.js import JetStreamContext

from slm_shared.contracts.payloads import AgreementEndedV1
from slm_shared.contracts.payloads_v2 import AgreementActivatedV2


def activation(
    *,
    agreement_id: str | None = None,
    version: int = 1,
    service_key: str = "payments",
    party: str | None = "party-a",
    objectives: list[dict[str, Any]] | None = None,
    effective_from: datetime | None = None,
) -> AgreementActivatedV2:
    """An activated version; in force from 90 days ago unless told (data before it would not count)."""
    return AgreementActivatedV2(
        agreement_id=agreement_id or str(uuid.uuid4()),
        version=version,
        kind="SLA",
        name="Payments Gold",
        service_id=str(uuid.uuid4()),
        service_key=service_key,
        consumer_party_id=party,
        effective_from=effective_from or datetime.now(UTC) - timedelta(days=90),
        objectives=objectives
        or [
            {
                "objective_id": str(uuid.uuid4()),
                "indicator": "availability",
                "target": 0.99,
                "window": {"kind": "rolling", "duration": "1d"},
            }
        ],
    )


def ended(agreement_id: str, version: int) -> AgreementEndedV1:
    return AgreementEndedV1(agreement_id=agreement_id, version=version, reason="terminated")


def points(service_key: str, good: float, total: float, *, minutes_ago: int = 1) -> list[dict[str, Any]]:
    stamp = (datetime.now(UTC) - timedelta(minutes=minutes_ago)).isoformat()
    return [{"service": service_key, "indicator": "availability", "timestamp": stamp, "good": good, "total": total}]


async def eventually(check: Callable[[], Awaitable[Any]], *, timeout: float = 10.0, interval: float = 0.05) -> Any:
    """Poll until `check` returns something truthy; fail after `timeout` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await check()
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last: {result!r})")
        await asyncio.sleep(interval)


async def stream_messages(js: JetStreamContext, subject: str, agreement_id: str) -> list[nats.aio.msg.Msg]:
    """Every message on `subject` in SLM_MEASUREMENT about one agreement."""
    subscription = await js.pull_subscribe(subject, durable=None, stream="SLM_MEASUREMENT")
    found = []
    try:
        while True:
            try:
                batch = await subscription.fetch(200, timeout=0.3)
            except TimeoutError:  # nats-py raises its own subclass or the plain one
                break
            for message in batch:
                await message.ack()
                if json.loads(message.data).get("agreement_id") == agreement_id:
                    found.append(message)
    finally:
        await subscription.unsubscribe()
    return found
