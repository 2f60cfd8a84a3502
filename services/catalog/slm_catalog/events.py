"""What the catalog publishes (through the outbox); it consumes nothing yet."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from slm_catalog.models import Offering, Service
from slm_shared.bus import record_event
from slm_shared.contracts import EVENTS
from slm_shared.contracts.payloads import OfferingPublishedV1, PriceV1, ServiceCreatedV1, ServiceUpdatedV1, TargetV1


def _service_payload(service: Service) -> dict[str, str]:
    return {
        "service_id": service.id,
        "key": service.key,
        "name": service.name,
        "type": service.type,
        "lifecycle": service.lifecycle,
    }


def service_created(session: AsyncSession, service: Service) -> None:
    record_event(
        session,
        EVENTS.service_created,
        tenant=service.tenant,
        subject=service.id,
        data=ServiceCreatedV1.model_validate(_service_payload(service)),
    )


def service_updated(session: AsyncSession, service: Service) -> None:
    record_event(
        session,
        EVENTS.service_updated,
        tenant=service.tenant,
        subject=service.id,
        data=ServiceUpdatedV1.model_validate(_service_payload(service)),
    )


def offering_published(session: AsyncSession, offering: Offering, service: Service) -> None:
    price = (
        PriceV1(amount=offering.price_amount, currency=offering.price_currency, period=offering.price_period)  # type: ignore[arg-type]
        if offering.price_amount is not None and offering.price_currency
        else None
    )
    record_event(
        session,
        EVENTS.offering_published,
        tenant=offering.tenant,
        subject=offering.id,
        data=OfferingPublishedV1(
            offering_id=offering.id,
            service_id=service.id,
            service_key=service.key,
            name=offering.name,
            version=offering.version,
            price=price,
            targets=[TargetV1.model_validate(target) for target in offering.targets],
        ),
    )
