"""All SQL of parties, agreements and their versions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from slm_agreements.catalog.models import CatalogService
from slm_agreements.models import (
    Agreement,
    AgreementAcceptance,
    AgreementHistory,
    AgreementObjective,
    AgreementVersion,
    Party,
)


async def page(
    session: AsyncSession, query: Any, order: Sequence[Any], limit: int, offset: int
) -> tuple[list[Any], int]:
    """One page of `query` in a stable order, with the total."""
    total = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = await session.scalars(query.order_by(*order).limit(limit).offset(offset))
    return list(rows.all()), total


async def get_party(session: AsyncSession, *, tenant: str, party_id: str) -> Party | None:
    row = await session.scalar(select(Party).where(col(Party.tenant) == tenant, col(Party.id) == party_id))
    return row


async def list_parties(
    session: AsyncSession, *, tenant: str, limit: int, offset: int, kind: str | None = None, only_id: str | None = None
) -> tuple[list[Party], int]:
    query = select(Party).where(col(Party.tenant) == tenant)
    if kind:
        query = query.where(col(Party.kind) == kind)
    if only_id is not None:
        query = query.where(col(Party.id) == only_id)
    return await page(session, query, (Party.name, Party.id), limit, offset)


async def get_agreement(
    session: AsyncSession, *, tenant: str, agreement_id: str, for_update: bool = False
) -> Agreement | None:
    query = select(Agreement).where(col(Agreement.tenant) == tenant, col(Agreement.id) == agreement_id)
    if for_update:
        query = query.with_for_update()
    row = await session.scalar(query)
    return row


async def agreement_with_service_name(
    session: AsyncSession, *, tenant: str, agreement_id: str
) -> tuple[Agreement, str | None] | None:
    """The agreement with its service's name in the catalogue read model (None if not there yet), in one read."""
    query = (
        select(Agreement, col(CatalogService.name))
        .outerjoin(
            CatalogService,
            (col(CatalogService.tenant) == col(Agreement.tenant))
            & (col(CatalogService.id) == col(Agreement.service_id)),
        )
        .where(col(Agreement.tenant) == tenant, col(Agreement.id) == agreement_id)
    )
    row = (await session.execute(query)).first()
    return (row[0], row[1]) if row is not None else None


async def list_agreements(
    session: AsyncSession,
    *,
    tenant: str,
    limit: int,
    offset: int,
    state: str | None = None,
    kind: str | None = None,
    consumer_party_id: str | None = None,
    service_id: str | None = None,
    hide_drafts: bool = False,
) -> tuple[list[Agreement], int]:
    query = select(Agreement).where(col(Agreement.tenant) == tenant)
    for column, value in (
        (col(Agreement.state), state),
        (col(Agreement.kind), kind),
        (col(Agreement.consumer_party_id), consumer_party_id),
        (col(Agreement.service_id), service_id),
    ):
        if value is not None:
            query = query.where(column == value)
    if hide_drafts:
        query = query.where(or_(col(Agreement.state) != "draft", col(Agreement.in_force_version).is_not(None)))
    return await page(session, query, (col(Agreement.created_at).desc(), col(Agreement.id)), limit, offset)


async def get_version(session: AsyncSession, agreement: Agreement, version: int) -> AgreementVersion | None:
    row = await session.scalar(
        select(AgreementVersion).where(
            col(AgreementVersion.tenant) == agreement.tenant,
            col(AgreementVersion.agreement_id) == agreement.id,
            col(AgreementVersion.version) == version,
        )
    )
    return row


async def newest_version_number(session: AsyncSession, agreement: Agreement) -> int:
    """The highest version number the agreement has had (a withdrawn amendment's included)."""
    newest = await session.scalar(
        select(func.max(AgreementVersion.version)).where(
            col(AgreementVersion.tenant) == agreement.tenant, col(AgreementVersion.agreement_id) == agreement.id
        )
    )
    return int(newest or agreement.version)


def hidden_from_customers(status: str, proposed_by: str | None) -> bool:
    """A draft, or a draft withdrawn before it was ever proposed: the provider's own work, never shown to customers."""
    return status == "draft" or (status == "withdrawn" and proposed_by is None)


async def list_versions(
    session: AsyncSession, agreement: Agreement, *, limit: int, offset: int, hide_drafts: bool
) -> tuple[list[AgreementVersion], int]:
    query = select(AgreementVersion).where(
        col(AgreementVersion.tenant) == agreement.tenant, col(AgreementVersion.agreement_id) == agreement.id
    )
    if hide_drafts:
        query = query.where(
            col(AgreementVersion.status) != "draft",
            or_(col(AgreementVersion.status) != "withdrawn", col(AgreementVersion.proposed_by).is_not(None)),
        )
    return await page(session, query, (AgreementVersion.version,), limit, offset)


async def objectives_of(
    session: AsyncSession, agreement: Agreement, version: int | None = None
) -> list[AgreementObjective]:
    rows = await session.scalars(
        select(AgreementObjective)
        .where(
            col(AgreementObjective.tenant) == agreement.tenant,
            col(AgreementObjective.agreement_id) == agreement.id,
            col(AgreementObjective.agreement_version) == (version or agreement.version),
        )
        .order_by(col(AgreementObjective.position))
    )
    return list(rows.all())


async def acceptances_of(
    session: AsyncSession, agreement: Agreement, version: int | None = None
) -> list[AgreementAcceptance]:
    rows = await session.scalars(
        select(AgreementAcceptance)
        .where(
            col(AgreementAcceptance.tenant) == agreement.tenant,
            col(AgreementAcceptance.agreement_id) == agreement.id,
            col(AgreementAcceptance.agreement_version) == (version or agreement.version),
        )
        .order_by(col(AgreementAcceptance.id))
    )
    return list(rows.all())


async def history_of(
    session: AsyncSession, *, tenant: str, agreement_id: str, limit: int, offset: int
) -> tuple[list[AgreementHistory], int]:
    query = select(AgreementHistory).where(
        col(AgreementHistory.tenant) == tenant, col(AgreementHistory.agreement_id) == agreement_id
    )
    return await page(session, query, (AgreementHistory.id,), limit, offset)


async def versions_in_force(
    session: AsyncSession,
    *,
    tenant: str,
    service_ids: Sequence[str] | None = None,
    consumer_party_id: str | None = None,
    kinds: Sequence[str] | None = None,
    exclude_agreement_id: str | None = None,
) -> list[tuple[Agreement, AgreementVersion]]:
    """Agreements in force now (with the version in force), filtered."""
    query = (
        select(Agreement, AgreementVersion)
        .join(
            AgreementVersion,
            and_(
                col(AgreementVersion.agreement_id) == col(Agreement.id),
                col(AgreementVersion.version) == col(Agreement.in_force_version),
            ),
        )
        .where(col(Agreement.tenant) == tenant, col(AgreementVersion.status) == "active")
    )
    if service_ids is not None:
        query = query.where(col(Agreement.service_id).in_(list(service_ids)))
    if consumer_party_id is not None:
        query = query.where(col(Agreement.consumer_party_id) == consumer_party_id)
    if kinds is not None:
        query = query.where(col(Agreement.kind).in_(list(kinds)))
    if exclude_agreement_id is not None:
        query = query.where(col(Agreement.id) != exclude_agreement_id)
    result = await session.execute(query.order_by(Agreement.id))
    return [(row[0], row[1]) for row in result.all()]


async def objectives_of_versions(
    session: AsyncSession, *, tenant: str, keys: Sequence[tuple[str, int]]
) -> dict[tuple[str, int], list[AgreementObjective]]:
    """Objectives of several (agreement id, version) pairs at once."""
    found: dict[tuple[str, int], list[AgreementObjective]] = {key: [] for key in keys}
    if not keys:
        return found
    rows = await session.scalars(
        select(AgreementObjective)
        .where(
            col(AgreementObjective.tenant) == tenant,
            col(AgreementObjective.agreement_id).in_([k[0] for k in keys]),
        )
        .order_by(col(AgreementObjective.position))
    )
    for row in rows.all():
        key = (row.agreement_id, row.agreement_version)
        if key in found:
            found[key].append(row)
    return found
