"""Measurement HTTP API: ingestion and objectives."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import msgspec
from fastapi import APIRouter, Query, Request, status

from slm_measurement import repository, service
from slm_measurement.ingest import Point, decode_points
from slm_measurement.models import Objective
from slm_measurement.schemas import Budget, IngestAccepted, ObjectivePublic, ObjectiveStatus, Window
from slm_shared.errors import PROBLEM_RESPONSES, Conflict, NotFound, ProblemError
from slm_shared.web.concurrency import IdempotencyKey, remember_idempotent, replay_idempotent
from slm_shared.web.deps import IngestDep, ReaderDep, SessionDep, StaffDep
from slm_shared.web.pagination import Page, PageDep

router = APIRouter(prefix="/v1", tags=["measurement"], responses=PROBLEM_RESPONSES)

NDJSON = "application/x-ndjson"
POINT_SCHEMA = msgspec.json.schema_components([Point])[1]["Point"]
POINTS_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"type": "array", "items": POINT_SCHEMA}},
            NDJSON: {"schema": POINT_SCHEMA},
        },
    },
}


def objective_public(objective: Objective) -> ObjectivePublic:
    budget = service.budget_of(objective)
    return ObjectivePublic(
        **{name: getattr(objective, name) for name in ObjectivePublic.model_fields if hasattr(objective, name)},
        window=Window(
            kind=objective.window_kind,  # type: ignore[arg-type]
            duration=objective.window_duration,
            unit=objective.window_unit,  # type: ignore[arg-type]
            timezone=objective.window_timezone,
        ),
        budget=Budget(
            total=budget.total,
            consumed=budget.consumed,
            remaining=budget.remaining,
            remaining_ratio=budget.remaining_ratio,
        ),
    )


@router.post(
    "/measurements",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=IngestAccepted,
    openapi_extra=POINTS_BODY,
)
async def ingest_measurements(
    principal: IngestDep, session: SessionDep, request: Request, idempotency_key: IdempotencyKey = None
) -> object:
    """Store a batch of event-count points (JSON array or NDJSON); all or nothing."""
    if replay := await replay_idempotent(session, request, tenant=principal.tenant, key=idempotency_key):
        return replay
    content_type = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if content_type not in ("application/json", NDJSON):
        raise ProblemError(f"Send application/json or {NDJSON}, not {content_type}", status=415)
    points = decode_points(await request.body(), ndjson=content_type == NDJSON)
    settings = request.app.state.settings
    limits = service.IngestLimits(
        max_lateness=timedelta(seconds=settings.max_lateness_seconds),
        max_future=timedelta(seconds=settings.max_future_seconds),
    )
    body = IngestAccepted(
        accepted=await service.ingest_points(session, tenant=principal.tenant, points=points, limits=limits)
    )
    await remember_idempotent(
        session, request, tenant=principal.tenant, key=idempotency_key, status_code=202, body=body
    )
    return body


@router.get("/objectives", response_model=Page[ObjectivePublic])
async def list_objectives(
    principal: ReaderDep,
    session: SessionDep,
    page: PageDep,
    service_key: Annotated[str | None, Query(alias="service", max_length=64)] = None,
    agreement_id: Annotated[str | None, Query(max_length=64)] = None,
    status: ObjectiveStatus | None = None,
    active: Annotated[bool | None, Query(description="only active (true) or ended (false) objectives")] = True,
) -> Page[ObjectivePublic]:
    """List objectives with their latest evaluation, sorted by service, agreement and objective."""
    rows, total = await repository.list_objectives(
        session,
        tenant=principal.tenant,
        limit=page.limit,
        offset=page.offset,
        party=principal.party if principal.is_customer_only else None,
        service=service_key,
        agreement_id=agreement_id,
        status=status,
        active=active,
    )
    return Page(items=[objective_public(r) for r in rows], total=total, limit=page.limit, offset=page.offset)


@router.get("/objectives/{objective_id}", response_model=ObjectivePublic)
async def get_objective(objective_id: str, principal: ReaderDep, session: SessionDep) -> ObjectivePublic:
    """Read one objective: status, attainment, window and error budget."""
    objective = await repository.get_objective(session, tenant=principal.tenant, objective_row_id=objective_id)
    if objective is None or (principal.is_customer_only and objective.consumer_party_id != principal.party):
        raise NotFound(f"No objective {objective_id}")
    return objective_public(objective)


@router.post("/objectives/{objective_id}/evaluate", response_model=ObjectivePublic)
async def evaluate_objective(objective_id: str, principal: StaffDep, session: SessionDep) -> ObjectivePublic:
    """Evaluate an objective now and return the result."""
    found = await repository.get_objective(session, tenant=principal.tenant, objective_row_id=objective_id)
    if found is None:
        raise NotFound(f"No objective {objective_id}")
    if not found.active:
        raise Conflict(f"Objective {objective_id} belongs to an ended agreement and is no longer evaluated")
    objective = await service.evaluate_now(session, tenant=principal.tenant, objective_row_id=objective_id)
    return objective_public(objective)
