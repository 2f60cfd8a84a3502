"""Ticket reads for the HTTP API, scoped to the asking principal: its tenant, and a customer's own party."""

from __future__ import annotations

from typing import Literal

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from slm_measurement.tickets.models import Ticket
from slm_shared.auth import Principal


def _scoped(principal: Principal) -> Select[tuple[Ticket]]:
    query = select(Ticket).where(col(Ticket.tenant) == principal.tenant)
    if principal.is_customer_only:
        query = query.where(col(Ticket.consumer_party_id) == (principal.party or ""))
    return query


async def list_tickets(
    session: AsyncSession,
    principal: Principal,
    *,
    sla: Literal["at_risk", "breached", "any"],
    agreement_id: str | None,
    service_key: str | None,
    limit: int,
    offset: int,
) -> tuple[list[Ticket], int]:
    """One page of the tickets the principal may see (at risk or breached with `sla`), soonest breach first."""
    query = _scoped(principal)
    if sla == "at_risk":
        query = query.where(col(Ticket.at_risk).is_(True))
    elif sla == "breached":
        query = query.where(col(Ticket.breached).is_(True))
    if agreement_id:
        query = query.where(col(Ticket.agreement_id) == agreement_id)
    if service_key:
        query = query.where(col(Ticket.service_key) == service_key)
    total = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = await session.scalars(
        query.order_by(col(Ticket.next_due_at).is_(None), col(Ticket.next_due_at), col(Ticket.ticket_id))
        .limit(limit)
        .offset(offset)
    )
    return list(rows.all()), total


async def get_ticket(session: AsyncSession, principal: Principal, ticket_id: str) -> Ticket | None:
    """The ticket with this id, if the principal may see it."""
    found = await session.scalar(_scoped(principal).where(col(Ticket.ticket_id) == ticket_id))
    return found
