"""Parties the notifier knows: SQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from slm_notifier.models import PartyView
from slm_shared.db import utcnow


async def get_party(session: AsyncSession, *, tenant: str, party_id: str) -> PartyView | None:
    row = await session.scalar(
        select(PartyView).where(col(PartyView.tenant) == tenant, col(PartyView.party_id) == party_id)
    )
    return row


async def store_party(
    session: AsyncSession,
    *,
    tenant: str,
    party_id: str,
    name: str,
    contacts: list[dict[str, Any]],
    escalation_seconds: int | None,
    version: int,
) -> PartyView:
    """Insert or update a party's contacts, never going back to an older version."""
    view = await get_party(session, tenant=tenant, party_id=party_id)
    if view is None:
        view = PartyView(tenant=tenant, party_id=party_id, version=-1)
        session.add(view)
    if version >= view.version:
        view.name = name[:200]
        view.contacts = contacts
        view.escalation_seconds = escalation_seconds
        view.version = version
        view.updated_at = utcnow()
    await session.flush()
    return view
