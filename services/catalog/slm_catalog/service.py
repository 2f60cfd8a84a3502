"""Catalog domain operations; they know nothing of HTTP or NATS beyond recording events."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from slm_catalog import events, repository
from slm_catalog.models import Offering, Service
from slm_catalog.schemas import OfferingCreate, ServiceCreate, ServiceUpdate
from slm_shared.db import utcnow
from slm_shared.errors import Conflict, FieldError, NotFound


async def create_service(session: AsyncSession, *, tenant: str, data: ServiceCreate) -> Service:
    """Add a service; its key must be new in the tenant."""
    if await repository.get_service_by_key(session, tenant=tenant, key=data.key):
        raise Conflict(
            f"A service with key {data.key!r} already exists",
            errors=[FieldError(field="key", message="already in use")],
        )
    service = Service(tenant=tenant, **data.model_dump())
    session.add(service)
    await session.flush()
    events.service_created(session, service)
    return service


async def require_service(session: AsyncSession, *, tenant: str, service_id: str) -> Service:
    service = await repository.get_service(session, tenant=tenant, service_id=service_id)
    if service is None:
        raise NotFound(f"No service {service_id}")
    return service


async def update_service(session: AsyncSession, *, service: Service, data: ServiceUpdate) -> Service:
    """Apply a partial update and bump the version."""
    for name, value in data.model_dump(exclude_unset=True).items():
        setattr(service, name, value)
    service.version += 1
    service.updated_at = utcnow()
    await session.flush()
    events.service_updated(session, service)
    return service


async def create_offering(session: AsyncSession, *, service: Service, data: OfferingCreate) -> Offering:
    """Add a draft offering (tier) to a service."""
    if service.lifecycle == "retired":
        raise Conflict(f"Service {service.key} is retired and takes no new offerings")
    offering = Offering(
        tenant=service.tenant,
        service_id=service.id,
        name=data.name,
        description=data.description,
        price_amount=data.price.amount if data.price else None,
        price_currency=data.price.currency if data.price else None,
        price_period=data.price.period if data.price else "month",
        targets=[target.model_dump(mode="json") for target in data.targets],
    )
    session.add(offering)
    await session.flush()
    return offering


async def publish_offering(session: AsyncSession, *, offering: Offering, service: Service) -> Offering:
    """Freeze a draft offering so customers can choose it and agreements can copy its targets."""
    if offering.status != "draft":
        raise Conflict(f"Offering {offering.id} is {offering.status}; only a draft can be published")
    offering.status = "published"
    offering.published_at = utcnow()
    offering.updated_at = offering.published_at
    await session.flush()
    events.offering_published(session, offering, service)
    return offering
