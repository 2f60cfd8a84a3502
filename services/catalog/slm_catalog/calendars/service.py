"""Calendars of business hours: the built-in 24x7 one plus those a tenant defines."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from slm_catalog import events
from slm_catalog.calendars.schemas import ALWAYS_DOCUMENT, CalendarCreate, CalendarFields, CalendarPublic
from slm_catalog.common import invalid, not_found
from slm_catalog.models import BusinessCalendar, Offering
from slm_shared import calendars
from slm_shared.contracts import EVENTS
from slm_shared.db import utcnow
from slm_shared.errors import Conflict, FieldError


def document_of(row: BusinessCalendar) -> dict[str, Any]:
    return {
        "id": row.id,
        "key": row.key,
        "name": row.name,
        "timezone": row.timezone,
        "hours": row.hours,
        "holidays": row.holidays,
        "country": row.country,
        "subdivision": row.subdivision,
        "builtin": False,
        "version": row.version,
    }


async def calendar_documents(session: AsyncSession, *, tenant: str) -> dict[str, dict[str, Any]]:
    """Every calendar of the tenant (with the built-in 24x7) by key."""
    rows = await session.scalars(select(BusinessCalendar).where(col(BusinessCalendar.tenant) == tenant))
    return {ALWAYS_DOCUMENT["key"]: ALWAYS_DOCUMENT, **{row.key: document_of(row) for row in rows}}


async def get_row(session: AsyncSession, *, tenant: str, key: str) -> BusinessCalendar | None:
    row = await session.scalar(
        select(BusinessCalendar).where(col(BusinessCalendar.tenant) == tenant, col(BusinessCalendar.key) == key)
    )
    return row


async def require_document(session: AsyncSession, *, tenant: str, key: str) -> dict[str, Any]:
    if key == ALWAYS_DOCUMENT["key"]:
        return ALWAYS_DOCUMENT
    row = await get_row(session, tenant=tenant, key=key)
    if row is None:
        raise not_found("calendar", key)
    return document_of(row)


async def require_row(session: AsyncSession, *, tenant: str, key: str) -> BusinessCalendar:
    row = await get_row(session, tenant=tenant, key=key)
    if row is None:
        if key == ALWAYS_DOCUMENT["key"]:
            raise Conflict("The 24x7 calendar is built in and cannot be changed")
        raise not_found("calendar", key)
    return row


def _check_country(data: CalendarFields) -> None:
    if data.country is None:
        if data.subdivision is not None:
            raise invalid("subdivision", "a subdivision needs a country")
        return
    try:
        calendars.check_country(data.country, data.subdivision)
    except ValueError as exc:
        raise invalid("subdivision" if data.subdivision else "country", str(exc)) from exc


async def create_calendar(session: AsyncSession, *, tenant: str, data: CalendarCreate) -> BusinessCalendar:
    """Define a calendar of business hours; its key must be new."""
    _check_country(data)
    if data.key == ALWAYS_DOCUMENT["key"] or await get_row(session, tenant=tenant, key=data.key):
        raise Conflict(
            f"A calendar with key {data.key!r} already exists",
            errors=[FieldError(field="key", message="already in use")],
        )
    row = BusinessCalendar(tenant=tenant, **data.model_dump(mode="json"))
    session.add(row)
    await session.flush()
    events.calendar_changed(session, EVENTS.calendar_created, row)
    return row


async def replace_calendar(session: AsyncSession, *, row: BusinessCalendar, data: CalendarFields) -> BusinessCalendar:
    """Replace a calendar's hours and holidays; ticket clocks use the new version from now on."""
    _check_country(data)
    for name, value in data.model_dump(mode="json").items():
        setattr(row, name, value)
    row.version += 1
    row.updated_at = utcnow()
    await session.flush()
    events.calendar_changed(session, EVENTS.calendar_updated, row)
    return row


async def delete_calendar(session: AsyncSession, *, row: BusinessCalendar) -> None:
    """Remove a calendar no offering uses for its support hours."""
    users = await session.scalars(
        select(col(Offering.name)).where(col(Offering.tenant) == row.tenant, col(Offering.support_calendar) == row.key)
    )
    names = sorted(set(users))
    if names:
        raise Conflict(f"Calendar {row.key} gives the support hours of the offerings {', '.join(names)}")
    await session.delete(row)
    await session.flush()
    events.calendar_changed(session, EVENTS.calendar_deleted, row)


def public(document: dict[str, Any]) -> CalendarPublic:
    return CalendarPublic.model_validate(document)
