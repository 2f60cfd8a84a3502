"""All SQL of the catalogue read model."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from slm_agreements.catalog.models import (
    CatalogCalendar,
    CatalogDependency,
    CatalogIndicator,
    CatalogOffering,
    CatalogService,
)


def _upsert(
    session: AsyncSession, model: type[Any], values: dict[str, Any], keys: list[str], *, newer_only: bool
) -> Any:
    """INSERT ... ON CONFLICT (keys) DO UPDATE, skipping older observations when asked."""
    dialect = postgresql if session.bind is not None and session.bind.dialect.name == "postgresql" else sqlite
    table = model.__table__
    statement = dialect.insert(table).values(**values)
    changes = {name: statement.excluded[name] for name in values if name not in keys}
    where = table.c.observed_at <= statement.excluded.observed_at if newer_only else None
    return statement.on_conflict_do_update(index_elements=keys, set_=changes, where=where)


async def upsert_catalog_service(session: AsyncSession, values: dict[str, Any]) -> None:
    """Store a catalogue service unless a newer observation of it is already stored."""
    await session.execute(_upsert(session, CatalogService, values, ["tenant", "id"], newer_only=True))


async def upsert_catalog_offering(session: AsyncSession, values: dict[str, Any]) -> None:
    """Store an offering (published offerings do not change, so the latest write wins)."""
    await session.execute(_upsert(session, CatalogOffering, values, ["tenant", "id"], newer_only=False))


async def upsert_indicator(session: AsyncSession, values: dict[str, Any]) -> None:
    await session.execute(_upsert(session, CatalogIndicator, values, ["tenant", "key"], newer_only=True))


async def upsert_calendar(session: AsyncSession, values: dict[str, Any]) -> None:
    await session.execute(_upsert(session, CatalogCalendar, values, ["tenant", "key"], newer_only=True))


async def upsert_dependency(session: AsyncSession, values: dict[str, Any]) -> None:
    keys = ["tenant", "service_id", "supporting_service_id"]
    await session.execute(_upsert(session, CatalogDependency, values, keys, newer_only=True))


async def delete_dependency(session: AsyncSession, *, tenant: str, service_id: str, supporting_service_id: str) -> None:
    await session.execute(
        delete(CatalogDependency).where(
            col(CatalogDependency.tenant) == tenant,
            col(CatalogDependency.service_id) == service_id,
            col(CatalogDependency.supporting_service_id) == supporting_service_id,
        )
    )


async def retire_offering(session: AsyncSession, *, tenant: str, offering_id: str) -> bool:
    """Mark an offering retired; False when the read model does not hold it."""
    offering = await get_catalog_offering(session, tenant=tenant, offering_id=offering_id)
    if offering is None:
        return False
    offering.status = "retired"
    return True


async def get_catalog_service(session: AsyncSession, *, tenant: str, service_id: str) -> CatalogService | None:
    row = await session.scalar(
        select(CatalogService).where(col(CatalogService.tenant) == tenant, col(CatalogService.id) == service_id)
    )
    return row


async def get_catalog_offering(session: AsyncSession, *, tenant: str, offering_id: str) -> CatalogOffering | None:
    row = await session.scalar(
        select(CatalogOffering).where(col(CatalogOffering.tenant) == tenant, col(CatalogOffering.id) == offering_id)
    )
    return row


async def get_indicator(session: AsyncSession, *, tenant: str, key: str) -> CatalogIndicator | None:
    row = await session.scalar(
        select(CatalogIndicator).where(col(CatalogIndicator.tenant) == tenant, col(CatalogIndicator.key) == key)
    )
    return row


async def get_calendar(session: AsyncSession, *, tenant: str, key: str) -> CatalogCalendar | None:
    row = await session.scalar(
        select(CatalogCalendar).where(col(CatalogCalendar.tenant) == tenant, col(CatalogCalendar.key) == key)
    )
    return row


async def dependency_edges(session: AsyncSession, *, tenant: str) -> list[CatalogDependency]:
    """Every dependency edge the read model holds for the tenant."""
    rows = await session.scalars(select(CatalogDependency).where(col(CatalogDependency.tenant) == tenant))
    return list(rows.all())
