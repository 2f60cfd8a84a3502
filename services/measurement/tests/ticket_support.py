"""Helpers for ticket and report tests: agreements with ticket terms, applied through the consumer's handler."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from slm_measurement import events as measurement_events
from slm_shared.bus.models import OutboxMessage
from slm_shared.contracts import EVENTS
from slm_shared.contracts.payloads_v2 import AgreementActivatedV2
from slm_shared.db import Database

TICKET_OBJECTIVE: dict[str, Any] = {
    "objective_id": "ticket-compliance",
    "name": "Tickets within goal",
    "indicator": "ticket_time",
    "indicator_kind": "ticket_time",
    "target": 0.95,
    "window": {"kind": "calendar", "unit": "month"},
}


def ticket_agreement(*, agreement_id: str, service_key: str, party: str | None, **extra: Any) -> AgreementActivatedV2:
    fields: dict[str, Any] = {
        "agreement_id": agreement_id,
        "version": 1,
        "kind": "SLA",
        "name": f"{service_key} Gold",
        "service_id": f"id-{service_key}",
        "service_key": service_key,
        "consumer_party_id": party,
        "effective_from": datetime(2025, 1, 1, tzinfo=UTC),
        "objectives": [],
        "ticket_targets": [{"priority": "P1", "response_seconds": 4, "resolution_seconds": 3600}],
    }
    fields.update(extra)
    return AgreementActivatedV2.model_validate(fields)


async def activate(db: Database, agreement: AgreementActivatedV2, tenant: str = "acme") -> None:
    """Apply an activation exactly as the inbox consumer would."""
    async with db.session() as session:
        await measurement_events.on_agreement_activated(
            session, EVENTS.agreement_activated_v2.build(tenant=tenant, data=agreement)
        )


async def outbox(db: Database, event_type: str, **match: Any) -> list[dict[str, Any]]:
    """Payloads of the outbox events of one type whose fields equal `match`, oldest first."""
    async with db.sessionmaker() as session:
        rows = (
            await session.scalars(
                select(OutboxMessage).where(OutboxMessage.type == event_type).order_by(OutboxMessage.seq)
            )
        ).all()
    found = [json.loads(row.body) for row in rows]
    return [p for p in found if all(p.get(k) == v for k, v in match.items())]
