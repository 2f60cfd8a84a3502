"""Dependencies between services: add, remove, and query in both directions."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from slm_catalog import events
from slm_catalog.dependencies import graph
from slm_catalog.models import Service, ServiceDependency
from slm_catalog.services import repository as services_repository
from slm_catalog.services.schemas import ServiceRef
from slm_shared.contracts import EVENTS
from slm_shared.db import lock_for_rule
from slm_shared.errors import Conflict, FieldError


class DependencyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    supporting_service_id: str = Field(min_length=1, max_length=36)
    description: str = Field("", max_length=1000)


class RelatedService(ServiceRef):
    """A service reached through dependencies, with how many hops away it is."""

    depth: int


async def tenant_edges(session: AsyncSession, *, tenant: str) -> list[tuple[str, str]]:
    rows = await session.execute(
        select(col(ServiceDependency.service_id), col(ServiceDependency.supporting_service_id)).where(
            col(ServiceDependency.tenant) == tenant
        )
    )
    return [(dependent, supporting) for dependent, supporting in rows.all()]


async def add_dependency(
    session: AsyncSession, *, service: Service, supporting: Service, description: str = ""
) -> ServiceDependency:
    """Record that `service` depends on `supporting`, refusing duplicates and cycles."""
    if supporting.lifecycle == "retired":
        raise Conflict(
            f"Service {supporting.key} is retired and cannot support another",
            errors=[FieldError(field="supporting_service_id", message="retired service")],
        )
    await lock_for_rule(session, f"{service.tenant}/dependency-graph")
    edges = await tenant_edges(session, tenant=service.tenant)
    if (service.id, supporting.id) in edges:
        raise Conflict(
            f"{service.key} already depends on {supporting.key}",
            errors=[FieldError(field="supporting_service_id", message="already a dependency")],
        )
    if cycle := graph.cycle_if_added(edges, service.id, supporting.id):
        names = await services_repository.services_by_id(session, tenant=service.tenant, ids=cycle)
        keys = [names[node].key for node in cycle]
        raise Conflict(
            "The dependency would create the cycle " + " -> ".join(keys),
            errors=[FieldError(field="supporting_service_id", message="creates a cycle: " + " -> ".join(keys))],
            problem_type="dependency-cycle",
            extra={"cycle": keys},
        )
    edge = ServiceDependency(
        tenant=service.tenant, service_id=service.id, supporting_service_id=supporting.id, description=description
    )
    session.add(edge)
    await session.flush()
    events.dependency_changed(session, EVENTS.dependency_added, service, supporting)
    return edge


async def remove_dependency(session: AsyncSession, *, service: Service, supporting: Service) -> bool:
    """Remove the dependency; False if there was none."""
    result = await session.execute(
        delete(ServiceDependency).where(
            col(ServiceDependency.tenant) == service.tenant,
            col(ServiceDependency.service_id) == service.id,
            col(ServiceDependency.supporting_service_id) == supporting.id,
        )
    )
    if not getattr(result, "rowcount", 0):
        return False
    events.dependency_changed(session, EVENTS.dependency_removed, service, supporting)
    return True


async def related_services(
    session: AsyncSession, *, service: Service, reverse: bool, transitive: bool
) -> Sequence[RelatedService]:
    """Supporting services (or, reversed, the services affected when this one degrades)."""
    edges = await tenant_edges(session, tenant=service.tenant)
    depths = graph.reachable(graph.adjacency(edges, reverse=reverse), service.id, transitive=transitive)
    found = await services_repository.services_by_id(session, tenant=service.tenant, ids=depths)
    related = [
        RelatedService.model_validate({**ServiceRef.model_validate(found[node]).model_dump(), "depth": depth})
        for node, depth in depths.items()
        if node in found
    ]
    return sorted(related, key=lambda item: (item.depth, item.key))
