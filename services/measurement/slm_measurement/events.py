"""What measurement consumes (agreement activations and ends) and publishes (status changes, burn alerts)."""

from __future__ import annotations

from datetime import datetime

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from slm_measurement import read_model, terms
from slm_measurement.burn_alerts import Announced
from slm_measurement.burn_alerts import burn_alert_changed as burn_alert_changed
from slm_measurement.chain import service as chain_service
from slm_measurement.domain.status import AT_RISK, BREACHED, RECOVERED
from slm_measurement.domain.windows import WindowError
from slm_measurement.policy import budget_runs_out
from slm_measurement.portfolio import names
from slm_measurement.portfolio import service as portfolio_service
from slm_measurement.tickets import service as ticket_service
from slm_shared.bus import Handler, record_event
from slm_shared.bus.dead_letters import PermanentError
from slm_shared.contracts import EVENTS, CloudEvent, payloads_v2
from slm_shared.contracts.payloads import (
    AgreementEndedV1,
    AgreementNotMeasuredV1,
    DependencyChangedV1,
    ImprovementActionV1,
    ObjectiveStatusV1,
    PartyChangedV1,
)
from slm_shared.contracts.payloads_v2 import AgreementActivatedV2
from slm_shared.contracts.severity import SENT_SEVERITY
from slm_shared.db import utcnow

_STATUS_EVENTS = {
    status: (spec, SENT_SEVERITY[spec.type])
    for status, spec in (
        (BREACHED, EVENTS.objective_breached),
        (AT_RISK, EVENTS.objective_at_risk),
        (RECOVERED, EVENTS.objective_recovered),
    )
}


async def on_agreement_activated(session: AsyncSession, event: CloudEvent) -> None:
    """Copy the activated agreement's objectives (now or at its effective instant) and its terms.

    A version whose terms cannot be measured is not set up: measurement says so with
    `agreement.not_measured`, naming the term at fault, instead of dead-lettering the activation.
    """
    try:
        agreement = payloads_v2.agreement_activated(event.type, event.data)
    except ValidationError as exc:
        if not _names_a_version(event.data):
            raise PermanentError(f"{event.type} payload does not match its contract: {exc}") from exc
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"]) or None
        record_event(
            session,
            EVENTS.agreement_not_measured,
            tenant=event.tenant,
            subject=str(event.data["agreement_id"]),
            data=AgreementNotMeasuredV1(
                agreement_id=str(event.data["agreement_id"]),
                version=int(event.data["version"]),
                service_key=str(event.data.get("service_key") or ""),
                reason=f"the activation does not match its contract: {error['msg']}",
                field=where,
                observed_at=event.time or utcnow(),
            ),
        )
        return
    if refusal := read_model.refusal(agreement):
        not_measured(session, event.tenant, agreement, refusal, observed_at=event.time or utcnow())
        return
    try:
        await read_model.apply_activation(session, tenant=event.tenant, agreement=agreement)
    except WindowError as exc:
        not_measured(session, event.tenant, agreement, read_model.Refusal(None, str(exc)), observed_at=utcnow())
        return
    await terms.store_activation(session, tenant=event.tenant, agreement=agreement, at=event.time or utcnow())
    await ticket_service.remap_service(
        session, tenant=event.tenant, service_key=agreement.service_key, rules=ticket_service.TicketRules()
    )


async def on_agreement_ended(session: AsyncSession, event: CloudEvent) -> None:
    """Stop evaluating an ended (terminated, superseded or expired) agreement's objectives."""
    ended = event.payload(AgreementEndedV1)
    await read_model.apply_end(session, tenant=event.tenant, ended=ended)
    await terms.store_end(session, tenant=event.tenant, ended=ended, at=event.time or utcnow())


async def on_offering_published(session: AsyncSession, event: CloudEvent) -> None:
    """Keep the offering's price: the credit base for agreements that carry none."""
    offering = payloads_v2.offering_published(event.type, event.data)
    await terms.store_offering_price(session, tenant=event.tenant, offering=offering)


async def on_action_created(session: AsyncSession, event: CloudEvent) -> None:
    """Keep an improvement action for the agreement's reports."""
    await terms.store_action(session, tenant=event.tenant, action=event.payload(ImprovementActionV1), overdue=False)


async def on_action_updated(session: AsyncSession, event: CloudEvent) -> None:
    """Keep an improvement action's new owner, due date or status (done and cancelled leave the reports)."""
    await terms.store_action(session, tenant=event.tenant, action=event.payload(ImprovementActionV1), overdue=False)


async def on_action_overdue(session: AsyncSession, event: CloudEvent) -> None:
    """Mark an improvement action overdue (and keep its latest status)."""
    await terms.store_action(session, tenant=event.tenant, action=event.payload(ImprovementActionV1), overdue=True)


def _names_a_version(data: dict[str, object]) -> bool:
    version = data.get("version")
    return isinstance(data.get("agreement_id"), str) and isinstance(version, int) and not isinstance(version, bool)


def not_measured(
    session: AsyncSession,
    tenant: str,
    agreement: AgreementActivatedV2,
    refusal: read_model.Refusal,
    *,
    observed_at: datetime,
) -> None:
    """Record that an activated version is not measured, and why."""
    record_event(
        session,
        EVENTS.agreement_not_measured,
        tenant=tenant,
        subject=agreement.agreement_id,
        data=AgreementNotMeasuredV1(
            agreement_id=agreement.agreement_id,
            version=agreement.version,
            service_key=agreement.service_key,
            reason=refusal.reason,
            field=refusal.field,
            observed_at=observed_at,
        ),
    )


async def on_dependency_changed(session: AsyncSession, event: CloudEvent) -> None:
    """Keep the catalogue's dependency graph for chain diagnosis and warnings."""
    try:
        dependency = DependencyChangedV1.model_validate(event.data)
    except ValidationError as exc:
        raise PermanentError(f"{event.type} payload does not match its contract: {exc}") from exc
    added = event.type == EVENTS.dependency_added.type
    await chain_service.store_dependency(session, tenant=event.tenant, dependency=dependency, added=added)


async def on_supporting_status(session: AsyncSession, event: CloudEvent) -> None:
    """An objective went at risk or breached: if it is an OLA's or UC's, warn every SLA above it."""
    try:
        status = ObjectiveStatusV1.model_validate(event.data)
    except ValidationError as exc:
        raise PermanentError(f"{event.type} payload does not match its contract: {exc}") from exc
    await chain_service.warn_dependents(session, tenant=event.tenant, status=status)


async def on_service_changed(session: AsyncSession, event: CloudEvent) -> None:
    """Keep the catalogue's services by key with their names (portfolio, and names in reports)."""
    data = event.data if isinstance(event.data, dict) else {}
    if not isinstance(data.get("key"), str) or not isinstance(data.get("service_id"), str):
        raise PermanentError(f"{event.type} payload names no service")
    retired = event.type == EVENTS.service_retired.type
    await portfolio_service.store_service(session, tenant=event.tenant, data=data, retired=retired)


async def on_review_news(session: AsyncSession, event: CloudEvent) -> None:
    """Keep reviews announced as due until they are held (portfolio)."""
    data = event.data if isinstance(event.data, dict) else {}
    if not isinstance(data.get("review_id"), str) or not isinstance(data.get("agreement_id"), str):
        raise PermanentError(f"{event.type} payload names no review")
    if event.type == EVENTS.review_due.type and not data.get("due_on"):
        raise PermanentError(f"{event.type} payload has no due_on")
    held = event.type == EVENTS.review_held.type
    await portfolio_service.store_review_due(session, tenant=event.tenant, data=data, held=held)


async def on_party_changed(session: AsyncSession, event: CloudEvent) -> None:
    """Keep a party's name, so that reports and review packs name the customer."""
    try:
        party = PartyChangedV1.model_validate(event.data)
    except ValidationError as exc:
        raise PermanentError(f"{event.type} payload does not match its contract: {exc}") from exc
    await names.store_party(
        session, tenant=event.tenant, party_id=party.party_id, name=party.name, version=party.version
    )


HANDLERS: dict[str, Handler] = {
    EVENTS.party_created.type: on_party_changed,
    EVENTS.party_updated.type: on_party_changed,
    EVENTS.service_created.type: on_service_changed,
    EVENTS.service_updated.type: on_service_changed,
    EVENTS.service_retired.type: on_service_changed,
    EVENTS.review_due.type: on_review_news,
    EVENTS.review_held.type: on_review_news,
    EVENTS.dependency_added.type: on_dependency_changed,
    EVENTS.dependency_removed.type: on_dependency_changed,
    EVENTS.objective_at_risk.type: on_supporting_status,
    EVENTS.objective_breached.type: on_supporting_status,
    EVENTS.agreement_activated.type: on_agreement_activated,
    EVENTS.agreement_activated_v2.type: on_agreement_activated,
    EVENTS.agreement_ended.type: on_agreement_ended,
    EVENTS.offering_published.type: on_offering_published,
    EVENTS.offering_published_v2.type: on_offering_published,
    EVENTS.action_created.type: on_action_created,
    EVENTS.action_overdue.type: on_action_overdue,
    EVENTS.action_updated.type: on_action_updated,
}


def objective_status_changed(
    session: AsyncSession, objective: Announced, *, transition_event: str, previous_status: str, observed_at: datetime
) -> None:
    """Record an at-risk, breach or recovery in the outbox, in the transaction that changed the status."""
    spec, severity = _STATUS_EVENTS[transition_event]
    assert objective.window_start is not None and objective.window_end is not None
    record_event(
        session,
        spec,
        tenant=objective.tenant,
        subject=objective.objective_id,
        data=ObjectiveStatusV1(
            agreement_id=objective.agreement_id,
            objective_id=objective.objective_id,
            service_key=objective.service_key,
            indicator=objective.indicator,
            consumer_party_id=objective.consumer_party_id,
            status=objective.status,
            previous_status=previous_status,
            objective=objective.target,
            attainment=objective.attainment,
            good=objective.good,
            total=objective.total,
            window_start=objective.window_start,
            window_end=objective.window_end,
            observed_at=observed_at,
            severity=severity,
            budget_exhausted_at=budget_runs_out(objective.details or {}),
        ),
    )
