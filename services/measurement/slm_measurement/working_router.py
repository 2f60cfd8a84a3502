"""Measurement HTTP API: an objective's working, as of any instant or over any period."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request

from slm_measurement.as_of import AtQuery, EndQuery, StartQuery, checked, refused, required
from slm_measurement.domain.windows import parse_duration
from slm_measurement.replay import replay
from slm_measurement.router import visible_objective
from slm_measurement.working import InstantError, evaluate_at
from slm_measurement.working_schemas import Replay, Working
from slm_measurement.working_view import working_of
from slm_shared.db import utcnow
from slm_shared.errors import PROBLEM_RESPONSES
from slm_shared.web.deps import ReaderDep, SessionDep

router = APIRouter(prefix="/v1", tags=["objectives"], responses=PROBLEM_RESPONSES)


@router.get("/objectives/{objective_id}/working", response_model=Working)
async def objective_working(
    objective_id: str,
    principal: ReaderDep,
    session: SessionDep,
    request: Request,
    at: AtQuery = None,
    start: StartQuery = None,
    end: EndQuery = None,
) -> Working:
    """Show the working: window bounds, good/total, maintenance left out, budget formula and burn tiers."""
    objective = await visible_objective(session, principal, objective_id)
    now = utcnow()
    asked = {"at": at, "start": start, "end": end}
    instants = {name: checked(request, name, value, now=now) for name, value in asked.items()}
    try:
        evaluated = await evaluate_at(session, objective, now=now, **instants)
    except InstantError as exc:
        raise refused(exc) from exc
    return working_of(objective, evaluated, period=start is not None)


@router.get("/objectives/{objective_id}/replay", response_model=Replay)
async def replay_objective(
    objective_id: str,
    principal: ReaderDep,
    session: SessionDep,
    request: Request,
    start: Annotated[datetime, Query(alias="from", description="first instant evaluated (ISO 8601; naive is UTC)")],
    end: Annotated[datetime | None, Query(alias="to", description="last instant evaluated; default: now")] = None,
    step: Annotated[str, Query(pattern=r"^[1-9]\d{0,4}[mhdw]$", description="e.g. 1h, 1d")] = "1h",
) -> Replay:
    """Replay the objective over stored history, step by step, as the evaluator would have seen it; nothing is sent."""
    objective = await visible_objective(session, principal, objective_id)
    now = utcnow()
    first = required(request, "from", start, now=now)
    last = checked(request, "to", end, now=now) or now
    try:
        steps = await replay(session, objective, start=first, end=last, step=parse_duration(step), now=now)
    except InstantError as exc:
        raise refused(exc) from exc
    return Replay(id=objective.objective_id, step=step, steps=steps)
