"""What agreements publishes (through the outbox) and the catalog events it consumes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from slm_agreements import catalog
from slm_agreements.models import Agreement, AgreementObjective
from slm_shared.bus import Handler, record_event
from slm_shared.bus.inbox import PermanentError
from slm_shared.contracts import EVENTS, CloudEvent
from slm_shared.contracts.payloads import (
    AgreementActivatedV1,
    AgreementEndedV1,
    ObjectiveV1,
    OfferingPublishedV1,
    ServiceCreatedV1,
    ServiceUpdatedV1,
)


def objective_payload(objective: AgreementObjective) -> ObjectiveV1:
    return ObjectiveV1(
        objective_id=objective.id,
        name=objective.name,
        customer_specific=objective.customer_specific,
        indicator=objective.indicator,
        indicator_kind=objective.indicator_kind,  # type: ignore[arg-type]
        objective=objective.objective,
        comparison=objective.comparison,  # type: ignore[arg-type]
        threshold=objective.threshold,
        window=objective.window,  # type: ignore[arg-type]
        budgeting_method=objective.budgeting_method,  # type: ignore[arg-type]
        timeslice_seconds=objective.timeslice_seconds,
        timeslice_target=objective.timeslice_target,
    )


def agreement_activated(session: AsyncSession, agreement: Agreement, objectives: Sequence[AgreementObjective]) -> None:
    """Record that an agreement is in force, with every objective it commits to."""
    record_event(
        session,
        EVENTS.agreement_activated,
        tenant=agreement.tenant,
        subject=agreement.id,
        data=AgreementActivatedV1(
            agreement_id=agreement.id,
            version=agreement.version,
            kind=agreement.kind,  # type: ignore[arg-type]
            name=agreement.name,
            service_id=agreement.service_id,
            service_key=agreement.service_key,
            offering_id=agreement.offering_id,
            provider_party_id=agreement.provider_party_id,
            consumer_party_id=agreement.consumer_party_id,
            effective_from=agreement.effective_from,
            effective_to=agreement.effective_to,
            objectives=[objective_payload(objective) for objective in objectives],
        ),
    )


def agreement_ended(session: AsyncSession, agreement: Agreement, reason: str) -> None:
    """Record that an active agreement is no longer in force."""
    record_event(
        session,
        EVENTS.agreement_ended,
        tenant=agreement.tenant,
        subject=agreement.id,
        data=AgreementEndedV1(agreement_id=agreement.id, version=agreement.version, reason=reason),  # type: ignore[arg-type]
    )


P = TypeVar("P", bound=BaseModel)


def _payload(event: CloudEvent, model: type[P]) -> P:
    """The event's payload; a payload that does not match its contract can never be applied."""
    try:
        return event.payload(model)
    except ValidationError as exc:
        raise PermanentError(f"{event.type} payload does not match its contract: {exc}") from exc


def _observed_at(event: CloudEvent) -> datetime:
    return event.time if event.time.tzinfo else event.time.replace(tzinfo=UTC)


async def on_service_changed(session: AsyncSession, event: CloudEvent) -> None:
    """Keep the service read model current (created and updated carry the same fields)."""
    model = ServiceUpdatedV1 if event.type == EVENTS.service_updated.type else ServiceCreatedV1
    await catalog.store_service(session, event.tenant, _payload(event, model), _observed_at(event))


async def on_offering_published(session: AsyncSession, event: CloudEvent) -> None:
    """Add a published offering and its targets to the read model."""
    await catalog.store_published_offering(
        session, event.tenant, _payload(event, OfferingPublishedV1), _observed_at(event)
    )


HANDLERS: dict[str, Handler] = {
    EVENTS.service_created.type: on_service_changed,
    EVENTS.service_updated.type: on_service_changed,
    EVENTS.offering_published.type: on_offering_published,
}
