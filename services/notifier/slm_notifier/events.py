"""What the notifier consumes: objective status changes, agreement and review events, party contacts."""

from __future__ import annotations

import logging
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from slm_notifier import newest, repository, service
from slm_notifier.contacts import repository as contacts_repository
from slm_notifier.escalation import repository as escalation_repository
from slm_notifier.matching import EventFacts, severity_of
from slm_notifier.models import AgreementView
from slm_shared.bus import Handler
from slm_shared.bus.dead_letters import PermanentError
from slm_shared.contracts import EVENTS, CloudEvent, payloads_v2
from slm_shared.contracts.payloads import ImprovementActionV1, ObjectiveStatusV1, PartyChangedV1
from slm_shared.db import utcnow

logger = logging.getLogger(__name__)
P = TypeVar("P", bound=BaseModel)
CLOSED_ACTION = ("done", "cancelled")


def _parse(event: CloudEvent, model: type[P]) -> P:
    try:
        return event.payload(model)
    except ValidationError as exc:
        raise PermanentError(f"invalid {event.type} payload: {exc}") from exc


async def on_objective_status(session: AsyncSession, event: CloudEvent) -> None:
    """An objective became at risk, breached or recovered: notify who subscribed."""
    payload = _parse(event, ObjectiveStatusV1)
    known = await newest.newest_status(session, event, payload)
    if known is None:
        # Events can arrive out of order: a breach overtaken by its recovery is history, not news.
        logger.info(
            "status %s of objective %s observed %s is older than one already told; not announced",
            payload.status,
            payload.objective_id,
            payload.observed_at.isoformat(),
        )
        return
    facts = EventFacts(  # `known` carries the agreement's parties and escalation time (None: not known)
        event_type=event.type,
        service_key=payload.service_key,
        agreement_id=payload.agreement_id,
        consumer_party_id=payload.consumer_party_id or known.consumer_party_id,
        severity=payload.severity,
        objective_id=payload.objective_id,
        provider_party_id=known.provider_party_id,
    )
    if event.type == EVENTS.objective_recovered.type:
        await escalation_repository.resolve_open(
            session,
            tenant=event.tenant,
            agreement_id=payload.agreement_id,
            objective_id=payload.objective_id,
            now=utcnow(),
        )
    await service.fan_out(session, event, facts, escalation_seconds=known.escalation_seconds)


async def on_agreement_activated(session: AsyncSession, event: CloudEvent) -> None:
    """Remember the agreement (service, parties, escalation time) for later filtering, and notify subscribers."""
    try:
        payload = payloads_v2.agreement_activated(event.type, event.data)
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
        escalation = (payload.model_extra or {}).get("escalation_seconds")
        view.escalation_seconds = escalation if isinstance(escalation, int) and escalation > 0 else None
        view.updated_at = utcnow()
    await session.flush()
    facts = EventFacts(
        event_type=event.type,
        service_key=payload.service_key,
        agreement_id=payload.agreement_id,
        consumer_party_id=payload.consumer_party_id,
        severity="info",
        provider_party_id=payload.provider_party_id,
    )
    await service.fan_out(session, event, facts, escalation_seconds=view.escalation_seconds)


async def on_agreement_news(session: AsyncSession, event: CloudEvent) -> None:
    """Agreement news, burn alerts, ticket SLA clocks, reports and actions: notify who subscribed."""
    data: dict[str, Any] = event.data if isinstance(event.data, dict) else {}
    agreement_id = data.get("agreement_id")
    if not isinstance(agreement_id, str):
        raise PermanentError(f"{event.type} payload has no agreement_id")
    known = await repository.agreement_facts(session, tenant=event.tenant, agreement_id=agreement_id)
    facts = EventFacts(
        event_type=event.type,
        service_key=data.get("service_key") or (known.service_key if known else None),
        agreement_id=agreement_id,
        consumer_party_id=data.get("consumer_party_id") or (known.consumer_party_id if known else None),
        severity=severity_of(event.type, data),
        objective_id=data.get("objective_id") if isinstance(data.get("objective_id"), str) else None,
        provider_party_id=known.provider_party_id if known else None,
    )
    await service.fan_out(session, event, facts, escalation_seconds=known.escalation_seconds if known else None)
    if event.type in (EVENTS.agreement_terminated.type, EVENTS.agreement_expired.type):
        # the agreement's actions are chased no more
        await escalation_repository.end_escalations(
            session, tenant=event.tenant, agreement_id=agreement_id, now=utcnow()
        )


async def _newest_action(session: AsyncSession, event: CloudEvent, payload: ImprovementActionV1) -> Any:
    return await escalation_repository.newest_action(
        session,
        tenant=event.tenant,
        action_id=payload.action_id,
        revision=payload.revision or 0,  # an event from before revisions: the known status decides
        status=payload.status,
        due_on=payload.due_on.isoformat(),
        now=utcnow(),
    )


async def on_action_overdue(session: AsyncSession, event: CloudEvent) -> None:
    """An overdue action: notify who subscribed and chase its owner, unless a later event already said it is
    done, cancelled or due later (events may arrive out of order)."""
    payload = _parse(event, ImprovementActionV1)
    newest = await _newest_action(session, event, payload)
    later = newest.revision > (payload.revision or 0) and newest.due_on != payload.due_on.isoformat()
    if newest.status in CLOSED_ACTION or later:
        logger.info(
            "overdue of action %s (revision %s) arrived after revision %s (%s, due %s); no chase",
            payload.action_id, payload.revision, newest.revision, newest.status, newest.due_on,
        )  # fmt: skip
        return
    await on_agreement_news(session, event)


async def on_action_updated(session: AsyncSession, event: CloudEvent) -> None:
    """An action done, cancelled or given a due date still ahead is chased no more."""
    payload = _parse(event, ImprovementActionV1)
    await _newest_action(session, event, payload)
    if payload.status in ("done", "cancelled") or payload.due_on >= event.time.date():
        await escalation_repository.resolve_chase(
            session, tenant=event.tenant, action_id=payload.action_id, now=utcnow()
        )


async def on_party_changed(session: AsyncSession, event: CloudEvent) -> None:
    """Keep the party's contacts and escalation levels for addressing and escalation."""
    payload = _parse(event, PartyChangedV1)
    await contacts_repository.store_party(
        session,
        tenant=event.tenant,
        party_id=payload.party_id,
        name=payload.name,
        contacts=[contact.model_dump() for contact in payload.contacts],
        escalation_seconds=payload.escalation_seconds,
        version=payload.version,
    )


HANDLERS: dict[str, Handler] = {
    EVENTS.objective_at_risk.type: on_objective_status,
    EVENTS.objective_breached.type: on_objective_status,
    EVENTS.objective_recovered.type: on_objective_status,
    EVENTS.agreement_activated.type: on_agreement_activated,
    EVENTS.agreement_activated_v2.type: on_agreement_activated,
    EVENTS.agreement_amended.type: on_agreement_news,
    EVENTS.agreement_withdrawn.type: on_agreement_news,
    EVENTS.agreement_terminated.type: on_agreement_news,
    EVENTS.agreement_expired.type: on_agreement_news,
    EVENTS.agreement_renewal_due.type: on_agreement_news,
    EVENTS.review_due.type: on_agreement_news,
    EVENTS.objective_burn_alert.type: on_agreement_news,
    EVENTS.ticket_sla_warning.type: on_agreement_news,
    EVENTS.ticket_sla_breached.type: on_agreement_news,
    EVENTS.report_ready.type: on_agreement_news,
    EVENTS.source_state_changed.type: on_agreement_news,
    EVENTS.action_created.type: on_agreement_news,
    EVENTS.action_overdue.type: on_action_overdue,
    EVENTS.action_updated.type: on_action_updated,
    EVENTS.change_requested.type: on_agreement_news,
    EVENTS.observation_recorded.type: on_agreement_news,
    EVENTS.observation_annotated.type: on_agreement_news,
    EVENTS.chain_at_risk.type: on_agreement_news,
    EVENTS.proposal_decided.type: on_agreement_news,
    EVENTS.party_created.type: on_party_changed,
    EVENTS.party_updated.type: on_party_changed,
}
