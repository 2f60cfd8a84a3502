"""Events can arrive out of order: a breach overtaken by its recovery is not announced, nor escalated."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from conftest import objective_status
from receivers import Receiver

from slm_shared.contracts import EVENTS


async def test_a_breach_arriving_after_its_recovery_is_not_told(
    client: httpx.AsyncClient, publish: Any, tenant: str
) -> None:
    breached_at = datetime.now(UTC) - timedelta(minutes=5)
    recovered_at = breached_at + timedelta(minutes=3)
    async with Receiver() as receiver:
        created = await client.post(
            "/v1/subscriptions",
            json={"name": "ops", "event_types": ["slm.measurement.objective.*"], "target": {"url": receiver.url()}},
        )
        assert created.status_code == 201, created.text
        recovered = objective_status(status="recovered", previous_status="breached", observed_at=recovered_at)
        await publish(EVENTS.objective_recovered.build(tenant=tenant, data=recovered))
        (first,) = await receiver.wait_for(1)
        assert json.loads(first.body)["type"] == EVENTS.objective_recovered.type

        late = objective_status(status="breached", previous_status="at_risk", observed_at=breached_at)
        await publish(EVENTS.objective_breached.build(tenant=tenant, data=late))
        later = objective_status(
            status="at_risk", previous_status="recovered", observed_at=recovered_at + timedelta(minutes=1)
        )
        await publish(EVENTS.objective_at_risk.build(tenant=tenant, data=later))
        requests = await receiver.wait_for(2)
        await asyncio.sleep(0.5)  # the late breach was applied before the at-risk event behind it

    assert [json.loads(r.body)["type"] for r in receiver.requests] == [
        EVENTS.objective_recovered.type,
        EVENTS.objective_at_risk.type,
    ], requests
    deliveries = (await client.get("/v1/deliveries")).json()
    assert deliveries["total"] == 2
