"""What the ticket clocks publish: `ticket.sla_warning` and `ticket.sla_breached`, once per threshold."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from slm_measurement.tickets.clocks import BREACH, ClockView
from slm_shared.bus import record_event
from slm_shared.contracts import EVENTS
from slm_shared.contracts.payloads import TicketSlaV1

if TYPE_CHECKING:
    from slm_measurement.terms import AgreementTerms
    from slm_measurement.tickets.models import Ticket


def ticket_threshold(
    session: AsyncSession,
    ticket: Ticket,
    terms: AgreementTerms,
    clock: ClockView,
    share: float,
    *,
    observed_at: datetime,
) -> None:
    """Record in the outbox that a clock passed a warning share or its goal."""
    due_at = clock.thresholds.get(share) or observed_at
    record_event(
        session,
        EVENTS.ticket_sla_breached if share == BREACH else EVENTS.ticket_sla_warning,
        tenant=ticket.tenant,
        subject=ticket.ticket_id,
        data=TicketSlaV1(
            ticket_id=ticket.ticket_id,
            agreement_id=terms.agreement_id,
            service_key=ticket.service_key,
            consumer_party_id=terms.consumer_party_id,
            priority=ticket.priority,
            clock=clock.name,
            threshold=share,
            goal_seconds=clock.goal_seconds,
            elapsed_seconds=clock.goal_seconds * share,
            due_at=due_at,
            breach_at=clock.breach_at,
            observed_at=observed_at,
        ),
    )
