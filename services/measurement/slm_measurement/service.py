"""Measurement operations: ingest a batch, evaluate an objective, evaluate what is due."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from slm_measurement import buckets, events, read_model, repository
from slm_measurement.domain.alerts import alert_changes
from slm_measurement.domain.budget import ErrorBudget, error_budget
from slm_measurement.domain.status import BREACHED, transition
from slm_measurement.domain.windows import DAY
from slm_measurement.evaluator import Measurement, format_duration, measure
from slm_measurement.ingest import Batch
from slm_measurement.models import Objective, ObjectiveTransition
from slm_measurement.rollup import roll_up
from slm_shared.db import Database, utcnow
from slm_shared.errors import NotFound

logger = logging.getLogger(__name__)

EVALUATION_PENDING = "slm_measurement_evaluation_pending"


@dataclass(frozen=True)
class IngestLimits:
    max_lateness: timedelta
    max_future: timedelta


async def ingest_batch(session: AsyncSession, *, tenant: str, batch: Batch, limits: IngestLimits) -> int:
    """Check the whole batch, add it to the buckets and flag the objectives it affects."""
    now = utcnow()
    rollup = roll_up(batch, now=now, max_lateness=limits.max_lateness, max_future=limits.max_future)
    if not rollup.points:
        return 0
    await buckets.upsert_rollup(session, tenant=tenant, rollup=rollup)
    today = int(now.timestamp()) // DAY
    await buckets.forget_slice_tallies(session, tenant=tenant, days=rollup.days(), today=today)
    if await repository.mark_series_for_evaluation(session, tenant=tenant, series=rollup.series()):
        session.info[EVALUATION_PENDING] = True
    return rollup.points


def budget_of(objective: Objective) -> ErrorBudget:
    """The error budget of the objective's latest evaluation."""
    return error_budget(objective.attainment, objective.objective, objective.comparison)


def _iso(instant: datetime | None) -> str | None:
    return instant.isoformat() if instant is not None else None


def details_of(found: Measurement, method: str) -> dict[str, Any]:
    """The evaluation's burn rates, alerts and forecasts as stored on the objective."""
    return {
        "unit": "events" if method == "occurrences" else "slices",
        "excluded_minutes": found.excluded_minutes,
        "burn_rates": [
            {"lookback": format_duration(length), "burn_rate": rate}
            for length, rate in sorted(found.burn_rates.items())
        ],
        "alerts": [
            {
                "name": s.tier.name,
                "severity": s.tier.severity,
                "budget_share": s.tier.budget_share,
                "long_window": format_duration(s.tier.long_window),
                "short_window": format_duration(s.tier.short_window),
                "factor": s.factor,
                "long_burn": s.long_burn,
                "short_burn": s.short_burn,
                "firing": s.firing,
            }
            for s in found.alerts
        ],
        "forecasts": [
            {
                "lookback": format_duration(f.lookback),
                "horizon_end": _iso(f.horizon_end),
                "expected_attainment": f.expected_attainment,
                "budget_exhausted_at": _iso(f.budget_exhausted_at),
                "misses_target": f.misses_target,
            }
            for f in found.forecasts
        ],
    }


async def evaluate_objective(session: AsyncSession, objective: Objective, *, now: datetime) -> str | None:
    """Evaluate over the current window, store the outcome; record events only on transitions."""
    found = await measure(session, objective, now=now)
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
    if change.status != BREACHED:
        # While breached, the breach event speaks for the incident; pages on a spent budget are noise.
        for move in alert_moves:
            events.burn_alert_changed(session, objective, move, observed_at=now)
    return change.event


async def evaluate_now(session: AsyncSession, *, tenant: str, objective_row_id: str) -> Objective:
    """Evaluate one objective at once (waiting for a worker that holds it)."""
    objective = await repository.get_objective(session, tenant=tenant, objective_row_id=objective_row_id, lock=True)
    if objective is None:
        raise NotFound(f"No objective {objective_row_id}")
    await evaluate_objective(session, objective, now=utcnow())
    return objective


async def apply_due_versions(db: Database) -> int:
    """Apply agreement versions whose effective instant has come, and end expired objectives."""
    applied = 0
    async with db.session() as session:
        now = utcnow()
        for pending in await repository.due_activations(session, now=now):
            await read_model.apply_pending(session, pending)
            applied += 1
        applied += await read_model.expire_objectives(session, now=now)
    return applied


async def evaluate_due(db: Database, *, interval: timedelta, limit: int, chunk: int = 50) -> int:
    """Evaluate the flagged objectives and those not evaluated within `interval`.

    Objectives are locked and evaluated `chunk` at a time in one transaction, each inside its own
    savepoint, so one that fails is logged and skipped without undoing the others.
    """
    async with db.sessionmaker() as session:
        ids = await repository.due_objective_ids(session, stale_before=utcnow() - interval, limit=limit)
        await session.rollback()
    evaluated = 0
    for offset in range(0, len(ids), chunk):
        async with db.session() as session:
            now = utcnow()
            for objective in await repository.lock_due_objectives(
                session, objective_row_ids=ids[offset : offset + chunk], stale_before=now - interval
            ):
                try:
                    async with session.begin_nested():
                        await evaluate_objective(session, objective, now=now)
                    evaluated += 1
                except Exception:
                    logger.exception("evaluation of objective %s failed", objective.id)
    return evaluated
