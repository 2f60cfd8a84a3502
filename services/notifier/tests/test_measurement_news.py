"""Burn-rate alerts and ticket SLA clocks reach subscribers, filtered by their severity."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import httpx
from conftest import burn_alert
from receivers import Receiver
from standardwebhooks import Webhook

from slm_notifier.matching import severity_of
from slm_shared.contracts import EVENTS
from slm_shared.contracts.payloads import TicketSlaV1

NOW = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)


def ticket_breach() -> TicketSlaV1:
    return TicketSlaV1.model_validate(
        {
            "ticket_id": "INC-7",
            "agreement_id": "agr-1",
            "service_key": "payments",
            "priority": "P1",
            "clock": "resolution",
            "threshold": 1.0,
            "goal_seconds": 14400,
            "elapsed_seconds": 14400,
            "due_at": NOW,
            "breach_at": NOW,
            "observed_at": NOW,
        }
    )


def test_severity_scale() -> None:
    assert severity_of(EVENTS.objective_burn_alert.type, {"severity": "page"}) == "critical"
    assert severity_of(EVENTS.objective_burn_alert.type, {"severity": "ticket"}) == "warning"
    assert severity_of(EVENTS.ticket_sla_breached.type, {}) == "critical"
    assert severity_of(EVENTS.ticket_sla_warning.type, {}) == "warning"
    assert severity_of(EVENTS.report_ready.type, {}) == "info"
    assert severity_of(EVENTS.objective_breached.type, {"severity": "critical"}) == "critical"


async def test_pages_and_ticket_breaches_reach_a_critical_only_subscription(
    client: httpx.AsyncClient, publish: Any, tenant: str
) -> None:
    async with Receiver() as receiver:
        body = {
            "name": "on-call",
            "event_types": ["slm.measurement.objective.burn_alert.v1", "slm.measurement.ticket.*"],
            "target": {"url": receiver.url()},
            "filters": {"min_severity": "critical"},
        }
        created = await client.post("/v1/subscriptions", json=body)
        assert created.status_code == 201, created.text
        secret = created.json()["secret"]

        for severity, tier in (("ticket", "ticket-3d"), ("page", "page-1h")):
            alert = burn_alert(severity=severity, tier=tier)
            await publish(EVENTS.objective_burn_alert.build(tenant=tenant, data=alert))
        await publish(EVENTS.ticket_sla_breached.build(tenant=tenant, data=ticket_breach()))

        requests = await receiver.wait_for(2)
        await asyncio.sleep(1.0)  # a slow-burn "ticket" alert would have arrived by now
        types = sorted(Webhook(secret).verify(r.body, r.headers)["type"] for r in receiver.requests)
        assert len(requests) == 2
        assert types == ["slm.measurement.objective.burn_alert.v1", "slm.measurement.ticket.sla_breached.v1"]
