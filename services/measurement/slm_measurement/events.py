"""What measurement consumes (agreement activations and ends) and publishes (status changes, burn alerts)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from slm_measurement import read_model
from slm_measurement.domain.alerts import AlertChange
from slm_measurement.domain.status import AT_RISK, BREACHED, RECOVERED
from slm_measurement.domain.windows import WindowError
from slm_measurement.evaluator import format_duration
from slm_measurement.models import Objective
from slm_shared.bus import Handler, record_event
from slm_shared.bus.inbox import PermanentError
from slm_shared.contracts import EVENTS, CloudEvent
from slm_shared.contracts.payloads import AgreementActivatedV1, AgreementEndedV1, BurnAlertV1, ObjectiveStatusV1

_STATUS_EVENTS = {
    BREACHED: (EVENTS.objective_breached, "critical"),
    AT_RISK: (EVENTS.objective_at_risk, "warning"),
    RECOVERED: (EVENTS.objective_recovered, "info"),
}


async def on_agreement_activated(session: AsyncSession, event: CloudEvent) -> None:
    """Copy the activated agreement's objectives into the read model (now or at its effective instant)."""
    try:
        await read_model.apply_activation(session, tenant=event.tenant, agreement=event.payload(AgreementActivatedV1))
    except WindowError as exc:
        raise PermanentError(str(exc)) from exc


async def on_agreement_ended(session: AsyncSession, event: CloudEvent) -> None:
    """Stop evaluating an ended (terminated, superseded or expired) agreement's objectives."""
    await read_model.apply_end(session, tenant=event.tenant, ended=event.payload(AgreementEndedV1))


HANDLERS: dict[str, Handler] = {
    EVENTS.agreement_activated.type: on_agreement_activated,
    EVENTS.agreement_ended.type: on_agreement_ended,
}


def objective_status_changed(
    session: AsyncSession, objective: Objective, *, transition_event: str, previous_status: str, observed_at: datetime
) -> None:
    """Record an at-risk, breach or recovery in the outbox, in the transaction that changed the status."""
    spec, severity = _STATUS_EVENTS[transition_event]
    assert objective.window_start is not None and objective.window_end is not None
    record_event(
        session,
        spec,
        tenant=objective.tenant,
        subject=objective.id,
        data=ObjectiveStatusV1(
            agreement_id=objective.agreement_id,
            objective_id=objective.objective_id,
            service_key=objective.service_key,
            indicator=objective.indicator,
            consumer_party_id=objective.consumer_party_id,
            status=objective.status,  # type: ignore[arg-type]
            previous_status=previous_status,  # type: ignore[arg-type]
            objective=objective.objective,
            attainment=objective.attainment,
            good=objective.good,
            total=objective.total,
            window_start=objective.window_start,
            window_end=objective.window_end,
            observed_at=observed_at,
            severity=severity,  # type: ignore[arg-type]
        ),
    )


def burn_alert_changed(
    session: AsyncSession, objective: Objective, change: AlertChange, *, observed_at: datetime
) -> None:
    """Record that a burn-rate tier started or stopped firing."""
    state = change.state
    record_event(
        session,
        EVENTS.objective_burn_alert,
        tenant=objective.tenant,
        subject=objective.id,
        data=BurnAlertV1(
            agreement_id=objective.agreement_id,
            objective_id=objective.objective_id,
            objective_row_id=objective.id,
            service_key=objective.service_key,
            indicator=objective.indicator,
            consumer_party_id=objective.consumer_party_id,
            tier=state.tier.name,
            severity=state.tier.severity,
            firing=change.firing,
            long_window=format_duration(state.tier.long_window),
            short_window=format_duration(state.tier.short_window),
            long_burn_rate=state.long_burn,
            short_burn_rate=state.short_burn,
            threshold_factor=state.factor,
            budget_share=state.tier.budget_share,
            objective=objective.objective,
            observed_at=observed_at,
        ),
    )
