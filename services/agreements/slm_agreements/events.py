"""What agreements publishes (through the outbox), and the events it consumes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from slm_agreements.catalog.handlers import CATALOG_HANDLERS
from slm_agreements.models import Agreement, AgreementObjective, AgreementVersion, Party
from slm_shared.bus import Handler, record_event
from slm_shared.contracts import EVENTS
from slm_shared.contracts.envelope import EventSpec
from slm_shared.contracts.payloads import (
    AgreementEndedV1,
    AgreementRenewalDueV1,
    AgreementStateChangedV1,
    CreditTermsV1,
    MaintenanceWindowV1,
    ObjectiveTicketTargetV1,
    ObservationTermsV1,
    PartyChangedV1,
    PartyContactV1,
)
from slm_shared.contracts.payloads_v2 import AgreementActivatedV2, ObjectiveV2

STATE_EVENTS: dict[str, EventSpec[Any]] = {
    "propose": EVENTS.agreement_proposed,
    "counter": EVENTS.agreement_countered,
    "agreed": EVENTS.agreement_agreed,
    "amend": EVENTS.agreement_amended,
    "withdraw": EVENTS.agreement_withdrawn,
    "expire": EVENTS.agreement_expired,
    "terminate": EVENTS.agreement_terminated,
}


def party_changed(session: AsyncSession, party: Party, *, created: bool) -> None:
    """Tell notifiers who to contact, and escalate to, for this party."""
    record_event(
        session,
        EVENTS.party_created if created else EVENTS.party_updated,
        tenant=party.tenant,
        subject=party.id,
        data=PartyChangedV1(
            party_id=party.id,
            name=party.name,
            kind=party.kind,
            contacts=[PartyContactV1.model_validate(contact) for contact in party.contacts],
            escalation_seconds=party.escalation_seconds,
            version=party.version,
        ),
    )


def objective_payload(objective: AgreementObjective) -> ObjectiveV2:
    return ObjectiveV2(
        objective_id=objective.id,
        name=objective.name,
        customer_specific=objective.customer_specific,
        indicator=objective.indicator,
        indicator_kind=objective.indicator_kind,
        target=objective.target,
        op=objective.op,
        value=objective.value,
        window=objective.window,
        budgeting_method=objective.budgeting_method,
        timeslice_seconds=objective.timeslice_seconds,
        timeslice_target=objective.timeslice_target,
        alert_policy=objective.alert_policy,
        maintenance_windows=objective.maintenance_windows,
    )


def agreement_activated(
    session: AsyncSession,
    agreement: Agreement,
    version: AgreementVersion,
    objectives: Sequence[AgreementObjective],
    calendar: dict[str, Any] | None,
) -> None:
    """Record that a version is in force, with everything measurement needs to hold it to account."""
    data = AgreementActivatedV2(
        agreement_id=agreement.id,
        version=version.version,
        kind=agreement.kind,
        name=agreement.name,
        service_id=agreement.service_id,
        service_key=agreement.service_key,
        offering_id=agreement.offering_id,
        provider_party_id=agreement.provider_party_id,
        consumer_party_id=agreement.consumer_party_id,
        effective_from=version.effective_from,
        effective_to=version.effective_to,
        objectives=[objective_payload(objective) for objective in objectives],
        maintenance_windows=[MaintenanceWindowV1.model_validate(w) for w in version.maintenance_windows],
        ticket_targets=[ObjectiveTicketTargetV1.model_validate(t) for t in version.ticket_targets],
        calendar=calendar,
        credit_schedule=list(version.service_credits),
        timezone=version.timezone,
        price=version.price,  # an extra field: the price the credits are a share of
        support_calendar=version.support_calendar,
        activated_at=version.activated_at,
        credit_terms=CreditTermsV1.model_validate(version.credit_terms) if version.credit_terms else None,
        observation_terms=ObservationTermsV1.model_validate(version.observation_terms)
        if version.observation_terms
        else None,
        measured_scope="customer" if version.measured_scope == "customer" else "service",
        risks=list(version.risks),  # an extra field: chain gaps accepted as risks at activation
    )
    record_event(session, EVENTS.agreement_activated_v2, tenant=agreement.tenant, subject=agreement.id, data=data)


def agreement_ended(session: AsyncSession, agreement: Agreement, version: int, reason: str) -> None:
    """Record that a version in force no longer is (superseded, terminated or expired)."""
    record_event(
        session,
        EVENTS.agreement_ended,
        tenant=agreement.tenant,
        subject=agreement.id,
        data=AgreementEndedV1(agreement_id=agreement.id, version=version, reason=reason),
    )


def state_changed(
    session: AsyncSession,
    spec: EventSpec[Any],
    agreement: Agreement,
    version: AgreementVersion,
    *,
    previous_state: str | None,
    actor: str,
    side: str | None = None,
    comment: str | None = None,
) -> None:
    """Record a lifecycle step of one version (proposed, countered, agreed, amended, expired, terminated)."""
    data = AgreementStateChangedV1(
        agreement_id=agreement.id,
        version=version.version,
        kind=agreement.kind,
        name=agreement.name,
        service_id=agreement.service_id,
        service_key=agreement.service_key,
        provider_party_id=agreement.provider_party_id,
        consumer_party_id=agreement.consumer_party_id,
        state=agreement.state,
        previous_state=previous_state,
        actor=actor,
        side=side,
        comment=comment,
        effective_from=version.effective_from,
        effective_to=version.effective_to,
    )
    record_event(session, spec, tenant=agreement.tenant, subject=agreement.id, data=data)


def renewal_due(session: AsyncSession, agreement: Agreement, version: AgreementVersion, notice_starts_at: Any) -> None:
    """Remind that the renewal notice period of the version in force is about to start."""
    assert version.effective_to is not None
    data = AgreementRenewalDueV1(
        agreement_id=agreement.id,
        version=version.version,
        name=agreement.name,
        service_key=agreement.service_key,
        consumer_party_id=agreement.consumer_party_id,
        effective_to=version.effective_to,
        renewal_notice_days=version.renewal_notice_days or 0,
        notice_starts_at=notice_starts_at,
    )
    record_event(session, EVENTS.agreement_renewal_due, tenant=agreement.tenant, subject=agreement.id, data=data)


def handler_tables() -> tuple[dict[str, Handler], ...]:
    """Every event type this service consumes, with its handlers (one table per module)."""
    from slm_agreements.actions.handlers import ACTION_HANDLERS
    from slm_agreements.measured import MEASURED_HANDLERS

    return (CATALOG_HANDLERS, ACTION_HANDLERS, MEASURED_HANDLERS)
