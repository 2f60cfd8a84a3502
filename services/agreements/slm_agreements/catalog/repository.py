"""All SQL of the catalogue read model."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

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
            CatalogDependency.tenant == tenant,
            CatalogDependency.service_id == service_id,
            CatalogDependency.supporting_service_id == supporting_service_id,
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
    return await session.scalar(
        select(CatalogService).where(CatalogService.tenant == tenant, CatalogService.id == service_id)
    )


async def get_catalog_offering(session: AsyncSession, *, tenant: str, offering_id: str) -> CatalogOffering | None:
    return await session.scalar(
        select(CatalogOffering).where(CatalogOffering.tenant == tenant, CatalogOffering.id == offering_id)
    )


async def get_indicator(session: AsyncSession, *, tenant: str, key: str) -> CatalogIndicator | None:
    return await session.scalar(
        select(CatalogIndicator).where(CatalogIndicator.tenant == tenant, CatalogIndicator.key == key)
    )


async def get_calendar(session: AsyncSession, *, tenant: str, key: str) -> CatalogCalendar | None:
    return await session.scalar(
        select(CatalogCalendar).where(CatalogCalendar.tenant == tenant, CatalogCalendar.key == key)
    )


async def dependency_edges(session: AsyncSession, *, tenant: str) -> list[CatalogDependency]:
    """Every dependency edge the read model holds for the tenant."""
    rows = await session.scalars(select(CatalogDependency).where(CatalogDependency.tenant == tenant))
    return list(rows.all())
