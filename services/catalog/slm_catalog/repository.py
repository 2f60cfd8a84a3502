"""All catalog SQL."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from slm_catalog.models import Offering, Service


async def get_service(session: AsyncSession, *, tenant: str, service_id: str) -> Service | None:
    return await session.scalar(select(Service).where(Service.tenant == tenant, Service.id == service_id))


async def get_service_by_key(session: AsyncSession, *, tenant: str, key: str) -> Service | None:
    return await session.scalar(select(Service).where(Service.tenant == tenant, Service.key == key))


async def list_services(
    session: AsyncSession,
    *,
    tenant: str,
    limit: int,
    offset: int,
    type: str | None = None,
    lifecycle: str | None = None,
    text: str | None = None,
) -> tuple[Sequence[Service], int]:
    query = select(Service).where(Service.tenant == tenant)
    if type:
        query = query.where(Service.type == type)
    if lifecycle:
        query = query.where(Service.lifecycle == lifecycle)
    if text:
        pattern = f"%{text.lower()}%"
        query = query.where(or_(func.lower(Service.name).like(pattern), func.lower(Service.key).like(pattern)))
    total = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = await session.scalars(query.order_by(Service.key, Service.id).limit(limit).offset(offset))
    return rows.all(), total


async def get_offering(session: AsyncSession, *, tenant: str, offering_id: str) -> Offering | None:
    return await session.scalar(select(Offering).where(Offering.tenant == tenant, Offering.id == offering_id))


async def list_offerings(
    session: AsyncSession, *, tenant: str, service_id: str, limit: int, offset: int
) -> tuple[Sequence[Offering], int]:
    query = select(Offering).where(Offering.tenant == tenant, Offering.service_id == service_id)
    total = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = await session.scalars(
        query.order_by(Offering.name, Offering.version, Offering.id).limit(limit).offset(offset)
    )
    return rows.all(), total
