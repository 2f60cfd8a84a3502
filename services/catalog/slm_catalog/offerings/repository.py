"""Offering SQL."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from slm_catalog.models import Offering


async def get_offering(session: AsyncSession, *, tenant: str, offering_id: str) -> Offering | None:
    row = await session.scalar(select(Offering).where(col(Offering.tenant) == tenant, col(Offering.id) == offering_id))
    return row


async def series_versions(session: AsyncSession, *, tenant: str, series_id: str) -> Sequence[Offering]:
    rows = await session.scalars(
        select(Offering)
        .where(col(Offering.tenant) == tenant, col(Offering.series_id) == series_id)
        .order_by(col(Offering.version))
    )
    return rows.all()


async def names_in_use(session: AsyncSession, *, tenant: str, service_id: str) -> set[str]:
    """Tier names a service has used (a tier's name stays with it, retired or not)."""
    rows = await session.scalars(
        select(col(Offering.name)).where(col(Offering.tenant) == tenant, col(Offering.service_id) == service_id)
    )
    return set(rows)


async def list_offerings(
    session: AsyncSession,
    *,
    tenant: str,
    limit: int,
    offset: int,
    service_id: str | None = None,
    statuses: Sequence[str] | None = None,
) -> tuple[Sequence[Offering], int]:
    query = select(Offering).where(col(Offering.tenant) == tenant)
    if service_id:
        query = query.where(col(Offering.service_id) == service_id)
    if statuses:
        query = query.where(col(Offering.status).in_(list(statuses)))
    total = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = await session.scalars(
        query.order_by(col(Offering.service_id), col(Offering.name), col(Offering.version), col(Offering.id))
        .limit(limit)
        .offset(offset)
    )
    return rows.all(), total


async def published_for_services(
    session: AsyncSession, *, tenant: str, service_ids: Iterable[str]
) -> Sequence[Offering]:
    """The current (published) offerings of the given services."""
    rows = await session.scalars(
        select(Offering)
        .where(
            col(Offering.tenant) == tenant,
            col(Offering.service_id).in_(list(service_ids)),
            col(Offering.status) == "published",
        )
        .order_by(Offering.service_id, Offering.name)
    )
    return rows.all()


async def all_offerings(session: AsyncSession, *, tenant: str) -> Sequence[Offering]:
    rows = await session.scalars(
        select(Offering)
        .where(col(Offering.tenant) == tenant)
        .order_by(col(Offering.service_id), col(Offering.name), col(Offering.version))
    )
    return rows.all()
