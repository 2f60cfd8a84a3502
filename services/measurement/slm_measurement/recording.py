"""An evaluation's outcome stored on its objective: the entity's columns, its transition row, its events."""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from slm_measurement import events, repository
from slm_measurement.burn_alerts import AnnouncedColumns
from slm_measurement.domain.alerts import alert_changes
from slm_measurement.domain.status import transition
from slm_measurement.evaluator import Measurement
from slm_measurement.judging import details_of
from slm_measurement.models import Objective, ObjectiveTransition

# the columns `record_events` reads from its values or the objective (the details it derives from the measurement)
_ANNOUNCED = [field.name for field in fields(AnnouncedColumns) if field.name != "details"]


async def record_measurement(
    session: AsyncSession, objective: Objective, found: Measurement, *, now: datetime
) -> str | None:
    """Store an evaluation's outcome on the objective, with its transition row and events."""
    change = transition(found.verdict, objective.last_event)
    previous_status = objective.status
    objective.good, objective.total, objective.attainment = found.window.good, found.window.total, found.attainment
    objective.window_start, objective.window_end = found.bounds.start, found.bounds.end
    objective.status, objective.last_event = change.status, change.last_event
    objective.details = details_of(found, objective.budgeting_method)
    alert_moves, firing = alert_changes(found.alerts, set(objective.firing_alerts or []))
    objective.firing_alerts = sorted(firing)
    objective.needs_evaluation, objective.evaluated_at = False, now
    expected = next((f.expected_attainment for f in found.forecasts), None)
    if change.status != previous_status:
        repository.add_transition(
            session,
            ObjectiveTransition(
                tenant=objective.tenant,
                objective_row_id=objective.id,
                at=now,
                from_status=previous_status,
                to_status=change.status,
                event=change.event,
                attainment=found.attainment,
                expected_attainment=expected,
            ),
        )
    await session.flush()
    if change.event is not None:
        events.objective_status_changed(
            session, objective, transition_event=change.event, previous_status=previous_status, observed_at=now
        )
    # Every start and stop is reported, whatever the status: a tier that stops during a breach says so.
    for move in alert_moves:
        events.burn_alert_changed(session, objective, move, observed_at=now)
    return change.event


def record_events(
    session: AsyncSession, objective: Objective, found: Measurement, values: dict[str, Any], *, now: datetime
) -> None:
    """Record the events `record_measurement` would, about the objective as `values` leave it."""
    change = transition(found.verdict, objective.last_event)
    moves, _ = alert_changes(found.alerts, set(objective.firing_alerts or []))
    if change.event is None and not moves:
        return
    # A plain row holds the columns an evaluation reads (see `pass_locks.lock_due_objectives`).
    updated = AnnouncedColumns(
        **{name: values[name] if name in values else getattr(objective, name) for name in _ANNOUNCED},
        details=details_of(found, objective.budgeting_method),  # the stored JSON, as the entity holds it
    )
    if change.event is not None:
        events.objective_status_changed(
            session, updated, transition_event=change.event, previous_status=objective.status, observed_at=now
        )
    for move in moves:
        events.burn_alert_changed(session, updated, move, observed_at=now)
