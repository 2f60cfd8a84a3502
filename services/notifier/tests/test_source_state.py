"""A pulled series' source failing reaches the subscribers of the objective it feeds."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import httpx
from receivers import Receiver
from standardwebhooks import Webhook

from slm_shared.contracts import EVENTS
from slm_shared.contracts.payloads import SourceStateV1


def source_state(state: str, previous: str) -> SourceStateV1:
    return SourceStateV1(
        agreement_id="agr-9",
        objective_id="obj-9",
        service_key="checkout",
        indicator="availability",
        state=state,  # type: ignore[arg-type]
        previous_state=previous,  # type: ignore[arg-type]
        severity="info" if state == "ok" else "warning",
        detail="ConnectError: connection refused" if state != "ok" else "120 points",
        observed_at=datetime(2026, 11, 30, 3, 0, tzinfo=UTC),
    )


async def test_a_failing_source_is_delivered_and_its_recovery_filtered_by_severity(
    client: httpx.AsyncClient, publish: Any, tenant: str
) -> None:
    async with Receiver() as receiver:
        body = {
            "name": "data health",
            "event_types": ["slm.measurement.source.*"],
            "target": {"url": receiver.url()},
            "filters": {"min_severity": "warning"},
        }
        created = await client.post("/v1/subscriptions", json=body)
        assert created.status_code == 201, created.text
        await publish(EVENTS.source_state_changed.build(tenant=tenant, data=source_state("source_down", "ok")))
        await publish(EVENTS.source_state_changed.build(tenant=tenant, data=source_state("ok", "source_down")))
        [request] = await receiver.wait_for(1)
        await asyncio.sleep(1.0)  # the recovery (info) would have arrived by now
        assert len(receiver.requests) == 1
        delivered = Webhook(created.json()["secret"]).verify(request.body, request.headers)
        assert delivered["type"] == "slm.measurement.source.state_changed.v1"
        assert delivered["data"]["state"] == "source_down" and delivered["data"]["objective_id"] == "obj-9"
