"""The catalog events this service consumes into its read model."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from slm_agreements.catalog import read_model, repository
from slm_shared.bus import Handler
from slm_shared.bus.dead_letters import PermanentError
from slm_shared.contracts import EVENTS, CloudEvent, payloads_v2
from slm_shared.contracts.payloads import (
    CalendarChangedV1,
    DependencyChangedV1,
    IndicatorChangedV1,
    OfferingRetiredV1,
    ServiceCreatedV1,
    ServiceRetiredV1,
    ServiceUpdatedV1,
)
from slm_shared.contracts.payloads_v2 import OfferingPublishedV2

P = TypeVar("P", bound=BaseModel)


def _payload(event: CloudEvent, model: type[P]) -> P:
    """The event's payload; a payload that does not match its contract can never be applied."""
    try:
        return event.payload(model)
    except ValidationError as exc:
        raise PermanentError(f"{event.type} payload does not match its contract: {exc}") from exc


def _offering(event: CloudEvent) -> OfferingPublishedV2:
    """An offering.published payload of either version, its targets in the version-2 shape."""
    try:
        return payloads_v2.offering_published(event.type, event.data)
    except ValidationError as exc:
        raise PermanentError(f"{event.type} payload does not match its contract: {exc}") from exc


def _observed_at(event: CloudEvent) -> datetime:
    return event.time if event.time.tzinfo else event.time.replace(tzinfo=UTC)


async def on_service_changed(session: AsyncSession, event: CloudEvent) -> None:
    """Keep the service read model current (created, updated and retired carry the same fields)."""
    model = {
        EVENTS.service_updated.type: ServiceUpdatedV1,
        EVENTS.service_retired.type: ServiceRetiredV1,
    }.get(event.type, ServiceCreatedV1)
    data = _payload(event, model)
    if event.type == EVENTS.service_retired.type:
        data.lifecycle = "retired"
    await read_model.store_service(session, event.tenant, data, _observed_at(event))


async def on_offering_published(session: AsyncSession, event: CloudEvent) -> None:
    """Add a published offering and everything it promises to the read model."""
    await read_model.store_published_offering(session, event.tenant, _offering(event), _observed_at(event))


async def on_offering_retired(session: AsyncSession, event: CloudEvent) -> None:
    """A retired offering takes no new agreements (signed ones keep their copied terms)."""
    data = _payload(event, OfferingRetiredV1)
    await repository.retire_offering(session, tenant=event.tenant, offering_id=data.offering_id)


async def on_indicator_changed(session: AsyncSession, event: CloudEvent) -> None:
    data = _payload(event, IndicatorChangedV1)
    await repository.upsert_indicator(
        session,
        {
            "tenant": event.tenant,
            "key": data.key,
            "kind": data.kind,
            "deleted": event.type == EVENTS.indicator_deleted.type,
            "source": "event",
            "observed_at": _observed_at(event),
        },
    )


async def on_calendar_changed(session: AsyncSession, event: CloudEvent) -> None:
    data = _payload(event, CalendarChangedV1)
    document = data.model_dump(
        mode="json", include={"key", "name", "timezone", "hours", "holidays", "country", "subdivision"}
    )
    await repository.upsert_calendar(
        session,
        {
            "tenant": event.tenant,
            "key": data.key,
            "document": document,
            "deleted": event.type == EVENTS.calendar_deleted.type,
            "source": "event",
            "observed_at": _observed_at(event),
        },
    )


async def on_dependency_changed(session: AsyncSession, event: CloudEvent) -> None:
    """Keep the dependency graph the chain checks walk."""
    data = _payload(event, DependencyChangedV1)
    if event.type == EVENTS.dependency_removed.type:
        await repository.delete_dependency(
            session,
            tenant=event.tenant,
            service_id=data.service_id,
            supporting_service_id=data.supporting_service_id,
        )
        return
    await repository.upsert_dependency(
        session,
        {
            "tenant": event.tenant,
            "service_id": data.service_id,
            "supporting_service_id": data.supporting_service_id,
            "service_key": data.service_key,
            "supporting_service_key": data.supporting_service_key,
            "observed_at": _observed_at(event),
        },
    )


CATALOG_HANDLERS: dict[str, Handler] = {
    EVENTS.service_created.type: on_service_changed,
    EVENTS.service_updated.type: on_service_changed,
    EVENTS.service_retired.type: on_service_changed,
    EVENTS.offering_published.type: on_offering_published,
    EVENTS.offering_published_v2.type: on_offering_published,
    EVENTS.offering_retired.type: on_offering_retired,
    EVENTS.indicator_created.type: on_indicator_changed,
    EVENTS.indicator_updated.type: on_indicator_changed,
    EVENTS.indicator_deleted.type: on_indicator_changed,
    EVENTS.calendar_created.type: on_calendar_changed,
    EVENTS.calendar_updated.type: on_calendar_changed,
    EVENTS.calendar_deleted.type: on_calendar_changed,
    EVENTS.dependency_added.type: on_dependency_changed,
    EVENTS.dependency_removed.type: on_dependency_changed,
}
