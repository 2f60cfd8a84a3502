"""Replay: an objective evaluated step by step over stored history, nothing stored and no events sent."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from slm_measurement.domain.status import transition
from slm_measurement.models import Objective
from slm_measurement.working import InstantError, evaluate_at
from slm_measurement.working_schemas import ReplayStep

MAX_REPLAY_STEPS = 500


def instants(start: datetime, end: datetime, step: timedelta) -> list[datetime]:
    """start, start + step, ... up to end (inclusive); InstantError when that is empty or too many."""
    if end < start:
        raise InstantError("to", "must not be before from")
    count = int((end - start) / step) + 1
    if count > MAX_REPLAY_STEPS:
        raise InstantError("step", f"at most {MAX_REPLAY_STEPS} steps between from and to; take a longer step")
    return [start + n * step for n in range(count)]


async def replay(
    session: AsyncSession, objective: Objective, *, start: datetime, end: datetime, step: timedelta, now: datetime
) -> list[ReplayStep]:
    """The objective as each step's evaluation would have found it, with the event it would have reported."""
    steps = []
    last_event: str | None = None
    for at in instants(start, end, step):
        evaluated = await evaluate_at(session, objective, at=at, now=now)
        found = evaluated.found
        change = transition(found.verdict, last_event)
        last_event = change.last_event
        steps.append(
            ReplayStep(
                at=at,
                status=change.status,
                event=change.event,
                good=found.window.good,
                total=found.window.total,
                attainment=found.attainment,
                budget_remaining_ratio=found.budget.remaining_ratio,
                agreement_version=evaluated.objective.agreement_version,
                target=evaluated.objective.target,
                firing_alerts=sorted(state.tier.name for state in found.alerts if state.firing),
            )
        )
    return steps
