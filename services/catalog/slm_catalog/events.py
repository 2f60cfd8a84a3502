"""What the catalog publishes (through the outbox); it consumes nothing."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from slm_catalog.models import BusinessCalendar, Indicator, Offering, Service
from slm_shared.bus import record_event
from slm_shared.contracts import EVENTS
from slm_shared.contracts.envelope import EventSpec
from slm_shared.contracts.payloads import (
    CalendarChangedV1,
    DependencyChangedV1,
    IndicatorChangedV1,
    OfferingRetiredV1,
    PriceV1,
    ServiceCreatedV1,
    ServiceCreditBandV1,
    ServiceRetiredV1,
    ServiceUpdatedV1,
    TicketTargetV1,
)
from slm_shared.contracts.payloads_v2 import OfferingPublishedV2, TargetV2


def _service_payload(service: Service) -> dict[str, Any]:
    return {
        "service_id": service.id,
        "key": service.key,
        "name": service.name,
        "type": service.type,
        "lifecycle": service.lifecycle,
        "owner_team": service.owner_team,
        "owner_contact": service.owner_contact,
        "tags": list(service.tags),
    }


def service_created(session: AsyncSession, service: Service) -> None:
    data = ServiceCreatedV1.model_validate(_service_payload(service))
    record_event(session, EVENTS.service_created, tenant=service.tenant, subject=service.id, data=data)


def service_updated(session: AsyncSession, service: Service) -> None:
    data = ServiceUpdatedV1.model_validate(_service_payload(service))
    record_event(session, EVENTS.service_updated, tenant=service.tenant, subject=service.id, data=data)


def service_retired(session: AsyncSession, service: Service) -> None:
    data = ServiceRetiredV1.model_validate(_service_payload(service))
    record_event(session, EVENTS.service_retired, tenant=service.tenant, subject=service.id, data=data)


def offering_price(offering: Offering) -> PriceV1 | None:
    if offering.price_amount is None or not offering.price_currency:
        return None
    return PriceV1.model_validate(
        {"amount": offering.price_amount, "currency": offering.price_currency, "period": offering.price_period}
    )


def offering_published(session: AsyncSession, offering: Offering, service: Service) -> None:
    record_event(
        session,
        EVENTS.offering_published_v2,
        tenant=offering.tenant,
        subject=offering.id,
        data=OfferingPublishedV2(
            offering_id=offering.id,
            service_id=service.id,
            service_key=service.key,
            name=offering.name,
            version=offering.version,
            price=offering_price(offering),
            targets=[TargetV2.model_validate(target) for target in offering.targets],
            support_calendar=offering.support_calendar,
            ticket_targets=[TicketTargetV1.model_validate(t) for t in offering.ticket_targets],
            service_credits=[ServiceCreditBandV1.model_validate(b) for b in offering.service_credits],
            supersedes_offering_id=offering.previous_version_id,
        ),
    )


def offering_retired(
    session: AsyncSession,
    offering: Offering,
    service: Service,
    *,
    reason: str = "retired",
    successor: str | None = None,
) -> None:
    data = OfferingRetiredV1.model_validate(
        {
            "offering_id": offering.id,
            "service_id": service.id,
            "service_key": service.key,
            "name": offering.name,
            "version": offering.version,
            "reason": reason,
            "successor_offering_id": successor,
        }
    )
    record_event(session, EVENTS.offering_retired, tenant=offering.tenant, subject=offering.id, data=data)


def indicator_changed(session: AsyncSession, spec: EventSpec[Any], indicator: Indicator) -> None:
    data = IndicatorChangedV1.model_validate(
        {
            "indicator_id": indicator.id,
            "key": indicator.key,
            "name": indicator.name,
            "kind": indicator.kind,
            "unit": indicator.unit,
            "clock": indicator.clock,
            "version": indicator.version,
        }
    )
    record_event(session, spec, tenant=indicator.tenant, subject=indicator.id, data=data)


def calendar_changed(session: AsyncSession, spec: EventSpec[Any], calendar: BusinessCalendar) -> None:
    data = CalendarChangedV1.model_validate(
        {
            "calendar_id": calendar.id,
            "key": calendar.key,
            "name": calendar.name,
            "timezone": calendar.timezone,
            "hours": calendar.hours,
            "holidays": [holiday["date"] for holiday in calendar.holidays],
            "country": calendar.country,
            "subdivision": calendar.subdivision,
            "version": calendar.version,
        }
    )
    record_event(session, spec, tenant=calendar.tenant, subject=calendar.id, data=data)


def dependency_changed(session: AsyncSession, spec: EventSpec[Any], service: Service, supporting: Service) -> None:
    data = DependencyChangedV1(
        service_id=service.id,
        service_key=service.key,
        supporting_service_id=supporting.id,
        supporting_service_key=supporting.key,
    )
    record_event(session, spec, tenant=service.tenant, subject=service.id, data=data)
