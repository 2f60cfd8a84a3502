"""Report reads, scoped to the asking principal: its tenant, and a customer's own party."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from slm_measurement.terms import AgreementTerms
from slm_shared.auth import Principal


async def party_versions(session: AsyncSession, principal: Principal, party_id: str) -> Sequence[AgreementTerms]:
    """Every stored version of every agreement of a customer party, by agreement then version; none for a
    customer asking about another party."""
    if principal.is_customer_only and party_id != principal.party:
        return []
    rows = await session.scalars(
        select(AgreementTerms)
        .where(col(AgreementTerms.tenant) == principal.tenant, col(AgreementTerms.consumer_party_id) == party_id)
        .order_by(col(AgreementTerms.agreement_id), col(AgreementTerms.version))
    )
    return rows.all()
