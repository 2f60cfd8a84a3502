"""Service operations: create, read, change, and the lifecycle pipeline -> live -> retired."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from slm_catalog import events
from slm_catalog.common import invalid, not_found
from slm_catalog.models import Service
from slm_catalog.services import repository
from slm_catalog.services.schemas import ServiceCreate, ServiceUpdate
from slm_shared.db import utcnow
from slm_shared.errors import Conflict, FieldError

NEXT_LIFECYCLES = {"pipeline": {"pipeline", "live", "retired"}, "live": {"live", "retired"}, "retired": {"retired"}}


def lifecycle_problem(current: str, wanted: str) -> str | None:
    """Why a service cannot move from `current` to `wanted`, or None if it can."""
    if wanted in NEXT_LIFECYCLES[current]:
        return None
    if current == "retired":
        return "a retired service stays retired"
    return f"a {current} service cannot go back to {wanted}"


async def create_service(session: AsyncSession, *, tenant: str, data: ServiceCreate) -> Service:
    """Add a service; its key must be new in the tenant."""
    if await repository.get_service_by_key(session, tenant=tenant, key=data.key):
        raise Conflict(
            f"A service with key {data.key!r} already exists",
            errors=[FieldError(field="key", message="already in use")],
        )
    service = Service(tenant=tenant, **data.model_dump(mode="json"))
    session.add(service)
    await session.flush()
    events.service_created(session, service)
    return service


async def require_service(session: AsyncSession, *, tenant: str, service_id: str, live_only: bool = False) -> Service:
    """The tenant's service, or 404 (also for a customer asking for one that is not live)."""
    service = await repository.get_service(session, tenant=tenant, service_id=service_id)
    if service is None or (live_only and service.lifecycle != "live"):
        raise not_found("service", service_id)
    return service


async def update_service(session: AsyncSession, *, service: Service, data: ServiceUpdate) -> Service:
    """Apply a partial update, respecting the lifecycle order, and bump the version."""
    changes = data.model_dump(mode="json", exclude_unset=True)
    for required in ("name", "type", "lifecycle", "tags", "configuration_items"):
        if required in changes and changes[required] is None:
            raise invalid(required, "may not be null")
    was = service.lifecycle
    if "lifecycle" in changes and (problem := lifecycle_problem(was, changes["lifecycle"])):
        raise Conflict(problem, errors=[FieldError(field="lifecycle", message=problem)])
    for name, value in changes.items():
        setattr(service, name, value)
    service.version += 1
    service.updated_at = utcnow()
    await session.flush()
    events.service_updated(session, service)
    if was != "retired" and service.lifecycle == "retired":
        events.service_retired(session, service)
    return service
