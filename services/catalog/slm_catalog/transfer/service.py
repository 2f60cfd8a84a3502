"""Export the whole catalogue as one document, and import such a document into an empty-keyed tenant."""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from slm_catalog import events
from slm_catalog.calendars import service as calendars_service
from slm_catalog.common import invalid_fields
from slm_catalog.dependencies import graph
from slm_catalog.dependencies.service import tenant_edges
from slm_catalog.indicators import service as indicators_service
from slm_catalog.models import BusinessCalendar, Indicator, Offering, Service, ServiceDependency
from slm_catalog.offerings import repository as offerings_repository
from slm_catalog.offerings import service as offerings_service
from slm_catalog.services import repository as services_repository
from slm_catalog.services.schemas import ConfigurationItemIn
from slm_catalog.transfer.schemas import CatalogDocument, ImportSummary
from slm_shared.contracts import EVENTS
from slm_shared.errors import Conflict, FieldError, Unprocessable

SERVICE_FIELDS = ("key", "name", "description", "type", "lifecycle", "owner_team", "owner_contact", "tags")


async def export_document(session: AsyncSession, *, tenant: str) -> CatalogDocument:
    """The tenant's whole catalogue, identified by keys rather than ids."""
    indicators = await session.scalars(
        select(Indicator).where(col(Indicator.tenant) == tenant).order_by(col(Indicator.key))
    )
    calendars = await session.scalars(
        select(BusinessCalendar).where(col(BusinessCalendar.tenant) == tenant).order_by(col(BusinessCalendar.key))
    )
    services = await services_repository.all_services(session, tenant=tenant)
    keys = {s.id: s.key for s in services}
    edges = await session.scalars(select(ServiceDependency).where(col(ServiceDependency.tenant) == tenant))
    depends: dict[str, list[dict[str, str]]] = {}
    for edge in edges:
        entry = {"service": keys[edge.supporting_service_id], "description": edge.description}
        depends.setdefault(edge.service_id, []).append(entry)
    offerings: dict[str, list[dict[str, Any]]] = {}
    for offering in await offerings_repository.all_offerings(session, tenant=tenant):
        body = offerings_service.public(offering).model_dump(
            include={
                "name",
                "description",
                "price",
                "support_calendar",
                "targets",
                "ticket_targets",
                "service_credits",
                "version",
                "status",
                "published_at",
                "retired_at",
            }
        )
        offerings.setdefault(offering.service_id, []).append(body)
    document = CatalogDocument.model_validate(
        {
            "indicators": [
                {k: getattr(row, k) for k in ("key", "name", "description", "unit", "kind", "clock")}
                for row in indicators
            ],
            "calendars": [
                {k: v for k, v in calendars_service.document_of(row).items() if k not in ("id", "builtin", "version")}
                for row in calendars
            ],
            "services": [
                {
                    **{k: getattr(s, k) for k in SERVICE_FIELDS},
                    "configuration_items": [],
                    "depends_on": sorted(depends.get(s.id, []), key=lambda d: d["service"]),
                    "offerings": sorted(offerings.get(s.id, []), key=lambda o: (o["name"], o["version"])),
                }
                for s in services
            ],
        }
    )
    # A service's configuration items as stored, not checked again: one stored before U+0000 was refused exports
    # (and is refused naming the field if imported).
    for exported, row in zip(document.services, services, strict=True):
        exported.configuration_items = [ConfigurationItemIn.model_construct(**item) for item in row.configuration_items]
    return document


def _duplicates(keys: list[str], path: str) -> dict[str, str]:
    counts = Counter(keys)
    return {f"{path}.{i}.key": "given twice in the document" for i, key in enumerate(keys) if counts[key] > 1}


async def _check_keys(session: AsyncSession, tenant: str, document: CatalogDocument) -> None:
    problems: dict[str, str] = {}
    problems.update(_duplicates([i.key for i in document.indicators], "indicators"))
    problems.update(_duplicates([c.key for c in document.calendars], "calendars"))
    problems.update(_duplicates([s.key for s in document.services], "services"))
    for s_index, entry in enumerate(document.services):
        versions = Counter((o.name, o.version) for o in entry.offerings)
        for o_index, offering in enumerate(entry.offerings):
            if versions[(offering.name, offering.version)] > 1:
                problems[f"services.{s_index}.offerings.{o_index}.version"] = "given twice for this tier"
    if problems:
        raise invalid_fields(problems, "The catalogue document repeats keys")
    taken: list[FieldError] = []
    indicators = await indicators_service.indicator_catalogue(session, tenant=tenant)
    calendars = await calendars_service.calendar_documents(session, tenant=tenant)
    existing_services = {s.key for s in await services_repository.all_services(session, tenant=tenant)}
    for path, keys, known in (
        ("indicators", [i.key for i in document.indicators], indicators),
        ("calendars", [c.key for c in document.calendars], calendars),
        ("services", [s.key for s in document.services], existing_services),
    ):
        taken += [
            FieldError(field=f"{path}.{i}.key", message="already in the catalogue")
            for i, k in enumerate(keys)
            if k in known
        ]
    if taken:
        raise Conflict("The catalogue already holds some of these keys; nothing was imported", errors=taken)


async def import_document(session: AsyncSession, *, tenant: str, document: CatalogDocument) -> ImportSummary:
    """Create everything in the document, all or nothing, with the events each creation reports."""
    await _check_keys(session, tenant, document)
    for indicator in document.indicators:
        await indicators_service.create_indicator(session, tenant=tenant, data=indicator)
    for calendar in document.calendars:
        await calendars_service.create_calendar(session, tenant=tenant, data=calendar)
    created: dict[str, Service] = {}
    for entry in document.services:
        service = Service(tenant=tenant, **entry.model_dump(mode="json", exclude={"depends_on", "offerings"}))
        session.add(service)
        created[entry.key] = service
    await session.flush()
    for service in created.values():
        events.service_created(session, service)
    dependencies = await _import_dependencies(session, tenant, document, created)
    offerings = 0
    for s_index, entry in enumerate(document.services):
        for o_index, item in enumerate(sorted(entry.offerings, key=lambda o: (o.name, o.version))):
            await _import_offering(session, created[entry.key], item, f"services.{s_index}.offerings.{o_index}")
            offerings += 1
    return ImportSummary(
        indicators=len(document.indicators),
        calendars=len(document.calendars),
        services=len(created),
        dependencies=dependencies,
        offerings=offerings,
    )


async def _import_dependencies(
    session: AsyncSession, tenant: str, document: CatalogDocument, created: dict[str, Service]
) -> int:
    existing = {s.key: s for s in await services_repository.all_services(session, tenant=tenant)}
    edges = await tenant_edges(session, tenant=tenant)
    count = 0
    for s_index, entry in enumerate(document.services):
        for d_index, dependency in enumerate(entry.depends_on):
            path = f"services.{s_index}.depends_on.{d_index}.service"
            supporting = existing.get(dependency.service)
            if supporting is None:
                raise invalid_fields({path: f"no service {dependency.service!r}"})
            service = created[entry.key]
            if cycle := graph.cycle_if_added(edges, service.id, supporting.id):
                names = {s.id: s.key for s in existing.values()}
                chain = " -> ".join(names[node] for node in cycle)
                raise Conflict(
                    f"The dependencies form the cycle {chain}", errors=[FieldError(field=path, message=chain)]
                )
            edges.append((service.id, supporting.id))
            session.add(
                ServiceDependency(
                    tenant=tenant,
                    service_id=service.id,
                    supporting_service_id=supporting.id,
                    description=dependency.description,
                )
            )
            events.dependency_changed(session, EVENTS.dependency_added, service, supporting)
            count += 1
    await session.flush()
    return count


async def _import_offering(session: AsyncSession, service: Service, item: Any, path: str) -> None:
    content = item.model_dump(mode="json", include=set(offerings_service.EDITABLE))
    try:
        content = await offerings_service.checked_content(
            session, tenant=service.tenant, content=content, explicit_kinds=[True] * len(content["targets"])
        )
    except Unprocessable as exc:
        for error in exc.errors:
            error.field = f"{path}.{error.field}"
        raise
    previous = await session.scalar(
        select(Offering)
        .where(
            col(Offering.tenant) == service.tenant,
            col(Offering.service_id) == service.id,
            col(Offering.name) == item.name,
        )
        .order_by(col(Offering.version).desc())
        .limit(1)
    )
    offering = Offering(
        tenant=service.tenant,
        service_id=service.id,
        name=item.name,
        version=item.version,
        status=item.status,
        published_at=item.published_at,
        retired_at=item.retired_at,
        previous_version_id=previous.id if previous else None,
        **offerings_service.columns(content),
    )
    offering.series_id = previous.series_id if previous else offering.id
    session.add(offering)
    await session.flush()
    if offering.status == "published":
        events.offering_published(session, offering, service)
