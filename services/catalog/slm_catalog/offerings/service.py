"""Offering operations: drafts, publishing (which freezes a version), new versions, retirement."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from slm_catalog import events
from slm_catalog.calendars.service import calendar_documents
from slm_catalog.common import invalid, invalid_fields, not_found
from slm_catalog.indicators.service import indicator_catalogue
from slm_catalog.models import Offering, Service
from slm_catalog.offerings import repository, rules
from slm_catalog.offerings.schemas import OfferingChanges, OfferingCreate, OfferingPublic
from slm_shared.db import utcnow
from slm_shared.errors import Conflict, FieldError

EDITABLE = ("description", "price", "support_calendar", "targets", "ticket_targets", "service_credits")


def public(offering: Offering) -> OfferingPublic:
    """The API shape of an offering row."""
    price = events.offering_price(offering)
    return OfferingPublic.model_validate({**offering.model_dump(), "price": price.model_dump() if price else None})


async def checked_content(
    session: AsyncSession, *, tenant: str, content: dict[str, Any], explicit_kinds: list[bool]
) -> dict[str, Any]:
    """The offering content, refused (422 naming each field) unless every target is measurable."""
    indicators = await indicator_catalogue(session, tenant=tenant)
    problems, targets = rules.target_problems(content["targets"], indicators, explicit_kinds=explicit_kinds)
    problems.update(rules.ticket_target_problems(content["ticket_targets"]))
    problems.update(rules.credit_band_problems(content["service_credits"]))
    calendar = content.get("support_calendar")
    if calendar and calendar not in await calendar_documents(session, tenant=tenant):
        problems["support_calendar"] = f"unknown calendar {calendar!r}; define it under /v1/calendars"
    if problems:
        raise invalid_fields(problems, "The offering is not measurable as given")
    return {**content, "targets": targets}


def _price_columns(price: dict[str, Any] | None) -> dict[str, Any]:
    if price is None:
        return {"price_amount": None, "price_currency": None, "price_period": "month"}
    amount = Decimal(str(price["amount"]))
    return {"price_amount": amount, "price_currency": price["currency"], "price_period": price["period"]}


def _content_of(data: OfferingCreate | OfferingChanges, base: dict[str, Any]) -> tuple[dict[str, Any], list[bool]]:
    content = dict(base)
    given = set(EDITABLE) & data.model_fields_set if isinstance(data, OfferingChanges) else set(EDITABLE)
    content.update(data.model_dump(mode="json", include=given))
    if content.get("targets") is None:
        raise invalid("targets", "an offering needs at least one target")
    content["ticket_targets"] = content.get("ticket_targets") or []
    content["service_credits"] = content.get("service_credits") or []
    content["description"] = content.get("description") or ""
    explicit = [True] * len(content["targets"])
    targets = getattr(data, "targets", None)
    if targets is not None:
        explicit = ["indicator_kind" in target.model_fields_set for target in targets]
    return content, explicit


def _row_content(offering: Offering) -> dict[str, Any]:
    price = events.offering_price(offering)
    return {
        "description": offering.description,
        "price": price.model_dump(mode="json") if price else None,
        "support_calendar": offering.support_calendar,
        "targets": offering.targets,
        "ticket_targets": offering.ticket_targets,
        "service_credits": offering.service_credits,
    }


def columns(content: dict[str, Any]) -> dict[str, Any]:
    plain = {key: value for key, value in content.items() if key != "price"}
    return {**plain, **_price_columns(content.get("price"))}


async def create_offering(session: AsyncSession, *, service: Service, data: OfferingCreate) -> Offering:
    """Add a draft tier to a service."""
    if service.lifecycle == "retired":
        raise Conflict(f"Service {service.key} is retired and takes no new offerings")
    if data.name in await repository.names_in_use(session, tenant=service.tenant, service_id=service.id):
        raise Conflict(
            f"Service {service.key} already has a tier named {data.name!r}; "
            "edit it to make a new version, or choose another name",
            errors=[FieldError(field="name", message="already in use")],
        )
    content, explicit = _content_of(data, {})
    content = await checked_content(session, tenant=service.tenant, content=content, explicit_kinds=explicit)
    offering = Offering(tenant=service.tenant, service_id=service.id, name=data.name, **columns(content))
    offering.series_id = offering.id
    session.add(offering)
    await session.flush()
    return offering


async def require_offering(
    session: AsyncSession, *, tenant: str, offering_id: str, published_only: bool = False
) -> Offering:
    offering = await repository.get_offering(session, tenant=tenant, offering_id=offering_id)
    if offering is None or (published_only and offering.status != "published"):
        raise not_found("offering", offering_id)
    return offering


async def edit_offering(session: AsyncSession, *, offering: Offering, data: OfferingChanges) -> tuple[Offering, bool]:
    """Edit a draft in place, or draft the next version of a published offering; True when a version was made."""
    if offering.status not in ("draft", "published"):
        raise Conflict(f"Offering {offering.id} is {offering.status} and cannot be edited")
    content, explicit = _content_of(data, _row_content(offering))
    if data.targets is None:
        explicit = [True] * len(content["targets"])
    content = await checked_content(session, tenant=offering.tenant, content=content, explicit_kinds=explicit)
    if offering.status == "draft":
        for name, value in columns(content).items():
            setattr(offering, name, value)
        offering.revision += 1
        offering.updated_at = utcnow()
        await session.flush()
        return offering, False
    versions = await repository.series_versions(session, tenant=offering.tenant, series_id=offering.series_id)
    if drafts := [v for v in versions if v.status == "draft"]:
        raise Conflict(
            f"Version {drafts[0].version} of {offering.name} is already drafted as {drafts[0].id}; edit that one",
            extra={"draft_id": drafts[0].id},
        )
    successor = Offering(
        tenant=offering.tenant,
        service_id=offering.service_id,
        series_id=offering.series_id,
        previous_version_id=offering.id,
        name=offering.name,
        version=max(v.version for v in versions) + 1,
        **columns(content),
    )
    session.add(successor)
    await session.flush()
    return successor, True


async def publish_offering(session: AsyncSession, *, offering: Offering, service: Service) -> Offering:
    """Freeze a draft; the version it replaces stays readable as superseded."""
    if offering.status != "draft":
        raise Conflict(f"Offering {offering.id} is {offering.status}; only a draft can be published")
    if service.lifecycle == "retired":
        raise Conflict(f"Service {service.key} is retired; its offerings cannot be published")
    now = utcnow()
    for older in await repository.series_versions(session, tenant=offering.tenant, series_id=offering.series_id):
        if older.status == "published":
            older.status, older.updated_at = "superseded", now
            events.offering_retired(session, older, service, reason="superseded", successor=offering.id)
    offering.status = "published"
    offering.published_at = offering.updated_at = now
    await session.flush()
    events.offering_published(session, offering, service)
    return offering


async def retire_offering(session: AsyncSession, *, offering: Offering, service: Service) -> Offering:
    """Withdraw a published offering: no new agreements may choose it."""
    if offering.status != "published":
        raise Conflict(f"Offering {offering.id} is {offering.status}; only a published offering can be retired")
    offering.status = "retired"
    offering.retired_at = offering.updated_at = utcnow()
    await session.flush()
    events.offering_retired(session, offering, service)
    return offering
