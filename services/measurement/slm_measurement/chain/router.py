"""Chain HTTP API: diagnosis of an objective down its supporting services."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query

from slm_measurement.chain import service
from slm_measurement.reports.render import plain
from slm_measurement.router import visible_objective
from slm_measurement.working import MAX_PERIOD
from slm_shared.db import utcnow
from slm_shared.errors import PROBLEM_RESPONSES, FieldError, Unprocessable
from slm_shared.web.bounds import BoundedDatetime
from slm_shared.web.deps import SessionDep, StaffDep

router = APIRouter(prefix="/v1", tags=["chain"], responses=PROBLEM_RESPONSES)


@router.get("/objectives/{objective_id}/chain")
async def objective_chain(
    objective_id: str,
    principal: StaffDep,
    session: SessionDep,
    start: Annotated[
        BoundedDatetime | None, Query(description="window start; the objective's window when omitted")
    ] = None,
    end: Annotated[BoundedDatetime | None, Query(description="window end; now when omitted")] = None,
) -> dict[str, Any]:
    """Which supporting OLA/UC objectives (every level down) were at risk or breached in the window, and their share."""
    objective = await visible_objective(session, principal, objective_id)
    now = utcnow()
    end = min(end or now, now + timedelta(minutes=1))
    start = start or objective.window_start or end - timedelta(days=30)
    if start >= end:
        raise Unprocessable(
            "start must be before end", errors=[FieldError(field="start", message="must be before end")]
        )
    if end - start > MAX_PERIOD:
        raise Unprocessable(
            "the window is too long", errors=[FieldError(field="start", message=f"at most {MAX_PERIOD.days} days")]
        )
    return plain(await service.diagnose(session, objective, start=start, end=end, now=now))  # type: ignore[no-any-return]
