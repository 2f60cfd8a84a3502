"""All agreements SQL."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from slm_agreements.models import (
    Agreement,
    AgreementAcceptance,
    AgreementHistory,
    AgreementObjective,
    CatalogOffering,
    CatalogService,
    Party,
)


async def _page(
    session: AsyncSession, query: Any, order: Sequence[Any], limit: int, offset: int
) -> tuple[list[Any], int]:
    total = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = await session.scalars(query.order_by(*order).limit(limit).offset(offset))
    return list(rows.all()), total


async def get_party(session: AsyncSession, *, tenant: str, party_id: str) -> Party | None:
    return await session.scalar(select(Party).where(Party.tenant == tenant, Party.id == party_id))


async def list_parties(
    session: AsyncSession, *, tenant: str, limit: int, offset: int, kind: str | None = None, only_id: str | None = None
) -> tuple[list[Party], int]:
    query = select(Party).where(Party.tenant == tenant)
    if kind:
        query = query.where(Party.kind == kind)
    if only_id is not None:
        query = query.where(Party.id == only_id)
    return await _page(session, query, (Party.name, Party.id), limit, offset)


def _upsert(session: AsyncSession, model: type[Any], values: dict[str, Any], *, newer_only: bool) -> Any:
    """INSERT ... ON CONFLICT (tenant, id) DO UPDATE, skipping older observations when asked."""
    dialect = postgresql if session.bind is not None and session.bind.dialect.name == "postgresql" else sqlite
    table = model.__table__
    statement = dialect.insert(table).values(**values)
    changes = {name: statement.excluded[name] for name in values if name not in ("tenant", "id")}
    where = table.c.observed_at <= statement.excluded.observed_at if newer_only else None
    return statement.on_conflict_do_update(index_elements=["tenant", "id"], set_=changes, where=where)


async def upsert_catalog_service(session: AsyncSession, values: dict[str, Any]) -> None:
    """Store a catalogue service unless a newer observation of it is already stored."""
    await session.execute(_upsert(session, CatalogService, values, newer_only=True))


async def upsert_catalog_offering(session: AsyncSession, values: dict[str, Any]) -> None:
    """Store a published offering (published offerings do not change, so the latest write wins)."""
    await session.execute(_upsert(session, CatalogOffering, values, newer_only=False))


async def get_catalog_service(session: AsyncSession, *, tenant: str, service_id: str) -> CatalogService | None:
    return await session.scalar(
        select(CatalogService).where(CatalogService.tenant == tenant, CatalogService.id == service_id)
    )


async def get_catalog_offering(session: AsyncSession, *, tenant: str, offering_id: str) -> CatalogOffering | None:
    return await session.scalar(
        select(CatalogOffering).where(CatalogOffering.tenant == tenant, CatalogOffering.id == offering_id)
    )


async def get_agreement(
    session: AsyncSession, *, tenant: str, agreement_id: str, for_update: bool = False
) -> Agreement | None:
    query = select(Agreement).where(Agreement.tenant == tenant, Agreement.id == agreement_id)
    if for_update:
        query = query.with_for_update()
    return await session.scalar(query)


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
    query = select(Agreement).where(Agreement.tenant == tenant)
    for column, value in (
        (Agreement.state, state),
        (Agreement.kind, kind),
        (Agreement.consumer_party_id, consumer_party_id),
        (Agreement.service_id, service_id),
    ):
        if value is not None:
            query = query.where(column == value)
    if hide_drafts:
        query = query.where(Agreement.state != "draft")
    return await _page(session, query, (Agreement.created_at.desc(), Agreement.id), limit, offset)  # type: ignore[attr-defined]


async def objectives_of(session: AsyncSession, agreement: Agreement) -> list[AgreementObjective]:
    rows = await session.scalars(
        select(AgreementObjective)
        .where(
            AgreementObjective.tenant == agreement.tenant,
            AgreementObjective.agreement_id == agreement.id,
            AgreementObjective.agreement_version == agreement.version,
        )
        .order_by(AgreementObjective.position)
    )
    return list(rows.all())


async def acceptances_of(session: AsyncSession, agreement: Agreement) -> list[AgreementAcceptance]:
    rows = await session.scalars(
        select(AgreementAcceptance)
        .where(
            AgreementAcceptance.tenant == agreement.tenant,
            AgreementAcceptance.agreement_id == agreement.id,
            AgreementAcceptance.agreement_version == agreement.version,
        )
        .order_by(AgreementAcceptance.id)  # type: ignore[arg-type]
    )
    return list(rows.all())


async def history_of(
    session: AsyncSession, *, tenant: str, agreement_id: str, limit: int, offset: int
) -> tuple[list[AgreementHistory], int]:
    query = select(AgreementHistory).where(
        AgreementHistory.tenant == tenant, AgreementHistory.agreement_id == agreement_id
    )
    return await _page(session, query, (AgreementHistory.id,), limit, offset)
