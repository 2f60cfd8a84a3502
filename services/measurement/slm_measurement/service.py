"""Measurement operations: ingest a batch, evaluate an objective, evaluate what is due."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from slm_measurement import events, repository
from slm_measurement.evaluation import ErrorBudget, attainment, error_budget, outcome, transition
from slm_measurement.ingest import Point, check_points, roll_up
from slm_measurement.models import Objective
from slm_measurement.windows import WindowSpec, window_bounds
from slm_shared.db import Database, utcnow
from slm_shared.errors import NotFound

logger = logging.getLogger(__name__)

EVALUATION_PENDING = "slm_measurement_evaluation_pending"


@dataclass(frozen=True)
class IngestLimits:
    max_lateness: timedelta
    max_future: timedelta


async def ingest_points(session: AsyncSession, *, tenant: str, points: list[Point], limits: IngestLimits) -> int:
    """Check the whole batch, add it to the buckets and flag the objectives it affects."""
    check_points(points, now=utcnow(), max_lateness=limits.max_lateness, max_future=limits.max_future)
    if not points:
        return 0
    rollup = roll_up(points)
    await repository.upsert_buckets(session, tenant=tenant, rollup=rollup)
    if await repository.mark_series_for_evaluation(session, tenant=tenant, series=rollup.series()):
        session.info[EVALUATION_PENDING] = True
    return len(points)


def window_of(objective: Objective) -> WindowSpec:
    return WindowSpec(
        kind=objective.window_kind,
        duration=objective.window_duration,
        unit=objective.window_unit,
        timezone=objective.window_timezone,
    )


def budget_of(objective: Objective) -> ErrorBudget:
    """The error budget of the objective's latest evaluation."""
    return error_budget(objective.attainment, objective.objective, objective.comparison)


async def evaluate_objective(session: AsyncSession, objective: Objective, *, now: datetime) -> str | None:
    """Evaluate over the current window, store the outcome; record an event only on a transition."""
    bounds = window_bounds(window_of(objective), now)
    good, total = await repository.window_sums(
        session, tenant=objective.tenant, service=objective.service_key, indicator=objective.indicator, bounds=bounds
    )
    verdict = outcome(good, total, objective.objective, objective.comparison)
    change = transition(verdict, objective.last_event)
    previous_status = objective.status
    objective.good, objective.total, objective.attainment = good, total, attainment(good, total)
    objective.window_start, objective.window_end = bounds.start, bounds.end
    objective.status, objective.last_event = change.status, change.last_event
    objective.needs_evaluation, objective.evaluated_at = False, now
    await session.flush()
    if change.event is not None:
        events.objective_status_changed(
            session, objective, transition_event=change.event, previous_status=previous_status, observed_at=now
        )
    return change.event


async def evaluate_now(session: AsyncSession, *, tenant: str, objective_row_id: str) -> Objective:
    """Evaluate one objective at once (waiting for a worker that holds it)."""
    objective = await repository.get_objective(session, tenant=tenant, objective_row_id=objective_row_id, lock=True)
    if objective is None:
        raise NotFound(f"No objective {objective_row_id}")
    await evaluate_objective(session, objective, now=utcnow())
    return objective


async def evaluate_due(db: Database, *, interval: timedelta, limit: int) -> int:
    """Evaluate the flagged objectives and those not evaluated within `interval`; one transaction each."""
    async with db.sessionmaker() as session:
        ids = await repository.due_objective_ids(session, stale_before=utcnow() - interval, limit=limit)
        await session.rollback()
    evaluated = 0
    for objective_row_id in ids:
        try:
            async with db.session() as session:
                now = utcnow()
                objective = await repository.lock_due_objective(
                    session, objective_row_id=objective_row_id, stale_before=now - interval
                )
                if objective is None:
                    continue
                await evaluate_objective(session, objective, now=now)
                evaluated += 1
        except Exception:
            logger.exception("evaluation of objective %s failed", objective_row_id)
    return evaluated
