"""Indicators: the standard ones plus those a tenant defines."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from slm_catalog import events
from slm_catalog.common import invalid, not_found
from slm_catalog.indicators.builtin import STANDARD_INDICATORS, IndicatorDefinition
from slm_catalog.indicators.schemas import IndicatorCreate, IndicatorUpdate
from slm_catalog.models import Indicator, Offering
from slm_shared.contracts import EVENTS
from slm_shared.db import utcnow
from slm_shared.errors import Conflict, FieldError


def definition_of(row: Indicator) -> IndicatorDefinition:
    return IndicatorDefinition(
        key=row.key,
        name=row.name,
        kind=row.kind,
        unit=row.unit,
        description=row.description,
        clock=row.clock,
        id=row.id,
        version=row.version,
    )


async def indicator_catalogue(session: AsyncSession, *, tenant: str) -> dict[str, IndicatorDefinition]:
    """Every indicator a target may name in this tenant, by key."""
    rows = await session.scalars(select(Indicator).where(col(Indicator.tenant) == tenant))
    return {**STANDARD_INDICATORS, **{row.key: definition_of(row) for row in rows}}


async def get_row(session: AsyncSession, *, tenant: str, key: str) -> Indicator | None:
    row = await session.scalar(select(Indicator).where(col(Indicator.tenant) == tenant, col(Indicator.key) == key))
    return row


async def require_row(session: AsyncSession, *, tenant: str, key: str) -> Indicator:
    """A tenant-defined indicator; the standard ones cannot be changed."""
    row = await get_row(session, tenant=tenant, key=key)
    if row is None:
        if key in STANDARD_INDICATORS:
            raise Conflict(f"{key} is a standard indicator and cannot be changed")
        raise not_found("indicator", key)
    return row


async def create_indicator(session: AsyncSession, *, tenant: str, data: IndicatorCreate) -> Indicator:
    """Define an indicator; its key must not be taken by a standard or existing one."""
    if data.kind == "ticket_time" and data.clock is None:
        raise invalid("clock", "a ticket_time indicator needs clock: response or resolution")
    if data.kind != "ticket_time" and data.clock is not None:
        raise invalid("clock", "only a ticket_time indicator has a clock")
    if data.key in STANDARD_INDICATORS or await get_row(session, tenant=tenant, key=data.key):
        raise Conflict(
            f"An indicator with key {data.key!r} already exists",
            errors=[FieldError(field="key", message="already in use")],
        )
    row = Indicator(tenant=tenant, **data.model_dump())
    session.add(row)
    await session.flush()
    events.indicator_changed(session, EVENTS.indicator_created, row)
    return row


async def update_indicator(session: AsyncSession, *, row: Indicator, data: IndicatorUpdate) -> Indicator:
    """Change an indicator's names and unit (its kind stays: targets rely on it)."""
    for name, value in data.model_dump(exclude_unset=True).items():
        if value is not None:
            setattr(row, name, value)
    row.version += 1
    row.updated_at = utcnow()
    await session.flush()
    events.indicator_changed(session, EVENTS.indicator_updated, row)
    return row


async def delete_indicator(session: AsyncSession, *, row: Indicator) -> None:
    """Remove an indicator that no offering targets."""
    offerings = await session.scalars(select(Offering).where(col(Offering.tenant) == row.tenant))
    users = sorted({f"{o.name} v{o.version}" for o in offerings if any(t["indicator"] == row.key for t in o.targets)})
    if users:
        raise Conflict(f"Indicator {row.key} is used by the offerings {', '.join(users)}")
    await session.delete(row)
    await session.flush()
    events.indicator_changed(session, EVENTS.indicator_deleted, row)
