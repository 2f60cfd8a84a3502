"""The local read model of the catalogue, kept from its events, and the REST fallback when it is empty."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from slm_agreements.catalog import repository
from slm_agreements.catalog.client import CatalogClient, CatalogUnavailable
from slm_shared.contracts.payloads import (
    OfferingPublishedV1,
    PriceV1,
    ServiceCreatedV1,
    ServiceCreditBandV1,
    TicketTargetV1,
)
from slm_shared.contracts.targets import Target
from slm_shared.db import Database, utcnow
from slm_shared.errors import FieldError, Unprocessable

logger = logging.getLogger(__name__)


class ServiceDocument(BaseModel):
    """The part of the catalog's service representation this service keeps."""

    model_config = ConfigDict(extra="ignore")

    id: str
    key: str
    name: str
    type: str = "business"
    lifecycle: str = "live"


class OfferingDocument(BaseModel):
    """The part of the catalog's offering representation this service keeps."""

    model_config = ConfigDict(extra="ignore")

    id: str
    service_id: str
    name: str
    version: int
    status: str
    price: PriceV1 | None = None
    targets: list[Target]
    support_calendar: str | None = None
    ticket_targets: list[TicketTargetV1] = []
    service_credits: list[ServiceCreditBandV1] = []


def service_values(tenant: str, data: ServiceCreatedV1 | ServiceDocument, observed_at: datetime) -> dict[str, Any]:
    """Read-model row for a service, from an event or a REST document."""
    service_id = data.service_id if isinstance(data, ServiceCreatedV1) else data.id
    return {
        "tenant": tenant,
        "id": service_id,
        "key": data.key,
        "name": data.name,
        "type": data.type,
        "lifecycle": data.lifecycle,
        "observed_at": observed_at,
    }


def offering_values(
    tenant: str, data: OfferingPublishedV1 | OfferingDocument, *, service_key: str, source: str, observed_at: datetime
) -> dict[str, Any]:
    """Read-model row for a published offering, with everything an agreement copies from it."""
    offering_id = data.offering_id if isinstance(data, OfferingPublishedV1) else data.id
    return {
        "tenant": tenant,
        "id": offering_id,
        "service_id": data.service_id,
        "service_key": service_key,
        "name": data.name,
        "version": data.version,
        "price": data.price.model_dump(mode="json") if data.price else None,
        "targets": [target.model_dump(mode="json") for target in data.targets],
        "support_calendar": data.support_calendar,
        "ticket_targets": [t.model_dump(mode="json") for t in data.ticket_targets],
        "service_credits": [b.model_dump(mode="json") for b in data.service_credits],
        "status": "published",
        "source": source,
        "observed_at": observed_at,
    }


async def store_service(session: AsyncSession, tenant: str, data: ServiceCreatedV1, observed_at: datetime) -> None:
    """Apply a service.created / updated / retired event to the read model."""
    await repository.upsert_catalog_service(session, service_values(tenant, data, observed_at))


async def store_published_offering(
    session: AsyncSession, tenant: str, data: OfferingPublishedV1, observed_at: datetime
) -> None:
    """Apply an offering.published event to the read model."""
    values = offering_values(tenant, data, service_key=data.service_key, source="event", observed_at=observed_at)
    await repository.upsert_catalog_offering(session, values)


def _unknown_offering(offering_id: str, reason: str) -> Unprocessable:
    return Unprocessable(f"Offering {offering_id} {reason}", errors=[FieldError(field="offering_id", message=reason)])


def _document(model: type[BaseModel], raw: Any) -> Any:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise CatalogUnavailable(
            f"The catalog answered with an unreadable document: {exc.error_count()} errors"
        ) from exc


async def ensure_offering(db: Database, client: CatalogClient, *, tenant: str, offering_id: str) -> None:
    """Make sure the read model holds the offering, fetching it (and its service) from the catalog if not."""
    async with db.session() as session:
        if await repository.get_catalog_offering(session, tenant=tenant, offering_id=offering_id):
            return
    raw_offering = await client.get(f"/v1/offerings/{offering_id}")
    if raw_offering is None:
        raise _unknown_offering(offering_id, "is not in the catalogue")
    offering: OfferingDocument = _document(OfferingDocument, raw_offering)
    raw_service = await client.get(f"/v1/services/{offering.service_id}")
    service: ServiceDocument | None = _document(ServiceDocument, raw_service) if raw_service is not None else None
    if offering.id != offering_id:
        raise CatalogUnavailable(f"The catalog answered offering {offering.id} when asked for {offering_id}")
    if offering.status != "published":
        raise _unknown_offering(offering_id, f"is {offering.status}; only a published offering can be agreed")
    if service is None:
        raise _unknown_offering(offering_id, "belongs to a service the catalogue does not show")
    observed_at = utcnow()
    async with db.session() as session:
        await repository.upsert_catalog_service(session, service_values(tenant, service, observed_at))
        values = offering_values(tenant, offering, service_key=service.key, source="rest", observed_at=observed_at)
        await repository.upsert_catalog_offering(session, values)
    logger.info("offering %s fetched from the catalog for tenant %s", offering_id, tenant)


async def indicator_kinds(db: Database, client: CatalogClient, *, tenant: str, keys: set[str]) -> dict[str, str | None]:
    """Each indicator key's kind in the catalogue (None when it has no such indicator), fetching unknown ones."""
    kinds: dict[str, str | None] = {}
    async with db.session() as session:
        for key in keys:
            row = await repository.get_indicator(session, tenant=tenant, key=key)
            if row is not None:
                kinds[key] = None if row.deleted else row.kind
    for key in sorted(keys - kinds.keys()):
        document = await client.get(f"/v1/indicators/{key}")
        kind = document.get("kind") if document else None
        kinds[key] = kind if isinstance(kind, str) else None
        if kinds[key] is not None:
            async with db.session() as session:
                await repository.upsert_indicator(
                    session,
                    {"tenant": tenant, "key": key, "kind": kind, "source": "rest", "observed_at": utcnow()},
                )
    return kinds


async def calendar_document(db: Database, client: CatalogClient, *, tenant: str, key: str) -> dict[str, Any] | None:
    """The support calendar `key` (hours, zone, holidays) from the read model, or fetched from the catalog."""
    async with db.session() as session:
        row = await repository.get_calendar(session, tenant=tenant, key=key)
        if row is not None:
            return None if row.deleted else dict(row.document)
    document = await client.get(f"/v1/calendars/{key}")
    if document is None:
        return None
    kept = {
        name: document.get(name) for name in ("key", "name", "timezone", "hours", "holidays", "country", "subdivision")
    }
    async with db.session() as session:
        await repository.upsert_calendar(
            session, {"tenant": tenant, "key": key, "document": kept, "source": "rest", "observed_at": utcnow()}
        )
    return kept
