"""The local read model of the catalogue, and the REST fallback for offerings it has not seen yet."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from slm_agreements import repository
from slm_shared.contracts.payloads import OfferingPublishedV1, PriceV1, ServiceCreatedV1, TargetV1
from slm_shared.db import Database, utcnow
from slm_shared.errors import FieldError, ProblemError, Unprocessable

logger = logging.getLogger(__name__)


class CatalogUnavailable(ProblemError):
    status = 503
    problem_type = "catalog-unavailable"


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
    targets: list[TargetV1]


@dataclass(frozen=True)
class CatalogClient:
    """Reads the catalog's REST API on behalf of the caller, forwarding its bearer token."""

    base_url: str
    timeout: float
    authorization: str | None

    async def get(self, path: str) -> dict[str, Any] | None:
        """The JSON document at `path`, or None when the catalog does not show it to the caller."""
        headers = {"Authorization": self.authorization} if self.authorization else {}
        try:
            async with httpx.AsyncClient(
                base_url=self.base_url, timeout=self.timeout, follow_redirects=False
            ) as client:
                response = await client.get(path, headers=headers)
        except httpx.HTTPError as exc:
            raise CatalogUnavailable(f"The catalog at {self.base_url} is not reachable: {type(exc).__name__}") from exc
        if response.status_code in (401, 403, 404):
            return None
        if response.status_code != 200:
            raise CatalogUnavailable(f"The catalog answered {response.status_code} for {path}")
        try:
            body = response.json()
        except ValueError as exc:
            raise CatalogUnavailable(f"The catalog answered {path} with something other than JSON") from exc
        return body if isinstance(body, dict) else None


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
    tenant: str,
    *,
    offering_id: str,
    service_id: str,
    service_key: str,
    name: str,
    version: int,
    price: PriceV1 | None,
    targets: list[TargetV1],
    source: str,
    observed_at: datetime,
) -> dict[str, Any]:
    """Read-model row for a published offering."""
    return {
        "tenant": tenant,
        "id": offering_id,
        "service_id": service_id,
        "service_key": service_key,
        "name": name,
        "version": version,
        "price": price.model_dump(mode="json") if price else None,
        "targets": [target.model_dump(mode="json") for target in targets],
        "source": source,
        "observed_at": observed_at,
    }


async def store_service(session: AsyncSession, tenant: str, data: ServiceCreatedV1, observed_at: datetime) -> None:
    """Apply a service.created / service.updated event to the read model."""
    await repository.upsert_catalog_service(session, service_values(tenant, data, observed_at))


async def store_published_offering(
    session: AsyncSession, tenant: str, data: OfferingPublishedV1, observed_at: datetime
) -> None:
    """Apply an offering.published event to the read model."""
    await repository.upsert_catalog_offering(
        session,
        offering_values(
            tenant,
            offering_id=data.offering_id,
            service_id=data.service_id,
            service_key=data.service_key,
            name=data.name,
            version=data.version,
            price=data.price,
            targets=data.targets,
            source="event",
            observed_at=observed_at,
        ),
    )


def _unknown_offering(offering_id: str, reason: str) -> Unprocessable:
    return Unprocessable(f"Offering {offering_id} {reason}", errors=[FieldError(field="offering_id", message=reason)])


async def ensure_offering(db: Database, client: CatalogClient, *, tenant: str, offering_id: str) -> None:
    """Make sure the read model holds the offering, fetching it (and its service) from the catalog if not."""
    async with db.session() as session:
        if await repository.get_catalog_offering(session, tenant=tenant, offering_id=offering_id):
            return
    raw_offering = await client.get(f"/v1/offerings/{offering_id}")
    if raw_offering is None:
        raise _unknown_offering(offering_id, "is not in the catalogue")
    try:
        offering = OfferingDocument.model_validate(raw_offering)
        raw_service = await client.get(f"/v1/services/{offering.service_id}")
        service = ServiceDocument.model_validate(raw_service) if raw_service is not None else None
    except ValidationError as exc:
        raise CatalogUnavailable(
            f"The catalog answered with an unreadable document: {exc.error_count()} errors"
        ) from exc
    if offering.id != offering_id:
        raise CatalogUnavailable(f"The catalog answered offering {offering.id} when asked for {offering_id}")
    if offering.status != "published":
        raise _unknown_offering(offering_id, f"is {offering.status}; only a published offering can be agreed")
    if service is None:
        raise _unknown_offering(offering_id, "belongs to a service the catalogue does not show")
    observed_at = utcnow()
    async with db.session() as session:
        await repository.upsert_catalog_service(session, service_values(tenant, service, observed_at))
        await repository.upsert_catalog_offering(
            session,
            offering_values(
                tenant,
                offering_id=offering.id,
                service_id=offering.service_id,
                service_key=service.key,
                name=offering.name,
                version=offering.version,
                price=offering.price,
                targets=offering.targets,
                source="rest",
                observed_at=observed_at,
            ),
        )
    logger.info("offering %s fetched from the catalog for tenant %s", offering_id, tenant)
