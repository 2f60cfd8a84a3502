"""Measurement HTTP API: an objective's working, as of any instant or over any period."""

from __future__ import annotations

from fastapi import APIRouter, Request

from slm_measurement.as_of import AtQuery, EndQuery, StartQuery, checked, refused
from slm_measurement.router import visible_objective
from slm_measurement.working import InstantError, evaluate_at
from slm_measurement.working_schemas import Working
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
