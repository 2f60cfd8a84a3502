"""What the notifier consumes: objective status changes and agreement activations."""

from __future__ import annotations

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from slm_notifier import repository, service
from slm_notifier.matching import EventFacts
from slm_notifier.models import AgreementView
from slm_shared.bus import Handler
from slm_shared.bus.inbox import PermanentError
from slm_shared.contracts import EVENTS, CloudEvent
from slm_shared.contracts.payloads import AgreementActivatedV1, ObjectiveStatusV1
from slm_shared.db import utcnow


async def on_objective_status(session: AsyncSession, event: CloudEvent) -> None:
    """An objective became at risk, breached or recovered: notify who subscribed."""
    try:
        payload = event.payload(ObjectiveStatusV1)
    except ValidationError as exc:
        raise PermanentError(f"invalid {event.type} payload: {exc}") from exc
    consumer_party_id = payload.consumer_party_id
    if consumer_party_id is None:
        known = await repository.get_agreement(session, tenant=event.tenant, agreement_id=payload.agreement_id)
        consumer_party_id = known.consumer_party_id if known else None
    facts = EventFacts(
        event_type=event.type,
        service_key=payload.service_key,
        agreement_id=payload.agreement_id,
        consumer_party_id=consumer_party_id,
        severity=payload.severity,
    )
    await service.fan_out(session, event, facts)


async def on_agreement_activated(session: AsyncSession, event: CloudEvent) -> None:
    """Remember the agreement (service, parties) for later filtering, and notify subscribers."""
    try:
        payload = event.payload(AgreementActivatedV1)
    except ValidationError as exc:
        raise PermanentError(f"invalid {event.type} payload: {exc}") from exc
    view = await repository.get_agreement(session, tenant=event.tenant, agreement_id=payload.agreement_id)
    if view is None:
        view = AgreementView(
            tenant=event.tenant, agreement_id=payload.agreement_id, version=0, kind="", name="", service_key=""
        )
        session.add(view)
    if payload.version >= view.version:
        view.version = payload.version
        view.kind = payload.kind
        view.name = payload.name[:200]
        view.service_key = payload.service_key
        view.provider_party_id = payload.provider_party_id
        view.consumer_party_id = payload.consumer_party_id
        view.updated_at = utcnow()
    await session.flush()
    facts = EventFacts(
        event_type=event.type,
        service_key=payload.service_key,
        agreement_id=payload.agreement_id,
        consumer_party_id=payload.consumer_party_id,
        severity="info",
    )
    await service.fan_out(session, event, facts)


HANDLERS: dict[str, Handler] = {
    EVENTS.objective_at_risk.type: on_objective_status,
    EVENTS.objective_breached.type: on_objective_status,
    EVENTS.objective_recovered.type: on_objective_status,
    EVENTS.agreement_activated.type: on_agreement_activated,
}
