"""Measurement HTTP API for objectives: status, budget, burn rates, forecast, timeline and policy."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import TypeAdapter
from sqlalchemy import Row

from slm_measurement import buckets, burn_alerts, lookups, repository, service, versioned
from slm_measurement.agreed import agreed_of, as_defined_at
from slm_measurement.as_of import AtQuery, as_of
from slm_measurement.domain.alerts import DEFAULT_POLICY
from slm_measurement.domain.budget import burn_rate
from slm_measurement.domain.windows import WindowError, lookback_bounds, parse_duration
from slm_measurement.evaluation_pass import details_of
from slm_measurement.evaluator import format_duration
from slm_measurement.models import Objective
from slm_measurement.policy import DEFAULT_AT_RISK, budget_runs_out
from slm_measurement.schemas import (
    Budget,
    BurnRateAt,
    ObjectivePolicy,
    ObjectivePublic,
    ObjectiveStatus,
    TransitionPublic,
    Window,
)
from slm_measurement.thresholds import counted_indicator
from slm_measurement.working import Evaluated, evaluate_at
from slm_shared.auth import Principal
from slm_shared.db import utcnow
from slm_shared.errors import PROBLEM_RESPONSES, Conflict, FieldError, NotFound, Unprocessable
from slm_shared.reads import Reader
from slm_shared.web.conditional import CONDITIONAL_OPENAPI, NOT_MODIFIED_RESPONSES, conditional_json
from slm_shared.web.deps import READER_ROLES, ReaderDep, SessionDep, StaffDep
from slm_shared.web.direct_route import direct_route
from slm_shared.web.pagination import Page, PageDep
from slm_shared.web.row_bodies import RowBodies

router = APIRouter(prefix="/v1", tags=["objectives"], responses=PROBLEM_RESPONSES)
Lookback = Annotated[str, Query(pattern=r"^\d{1,5}[mhdw]$", description="e.g. 5m, 2h, 3d")]


_OBJECTIVE_JSON = TypeAdapter(ObjectivePublic)  # the body as bytes, as `model_dump_json` writes it
# The current read's body per row of `lookups.objective_row` read lately (sized by MEASUREMENT_OBJECTIVE_BODIES).
OBJECTIVE_BODIES = RowBodies()
# The response's fields that are columns of the objectives table (looked up once, not probed per request).
_COLUMN_FIELDS = tuple(name for name in ObjectivePublic.model_fields if name in Objective.__table__.c)  # type: ignore[attr-defined]


def objective_public(objective: Objective | Row[Any] | Any) -> ObjectivePublic:
    """The API shape of an objective (an ORM entity or a row of the same table's columns)."""
    budget = service.budget_of(objective)
    details = objective.details or {}
    fields = {name: getattr(objective, name) for name in _COLUMN_FIELDS}
    return ObjectivePublic(
        **{**fields, "id": objective.objective_id},
        window=Window(
            kind=objective.window_kind,
            duration=objective.window_duration,
            unit=objective.window_unit,
            timezone=objective.window_timezone,
        ),
        budget=Budget(
            total=budget.total,
            consumed=budget.consumed,
            remaining=budget.remaining,
            remaining_ratio=budget.remaining_ratio,
        ),
        unit=details.get("unit", "events" if objective.budgeting_method == "occurrences" else "slices"),
        burn_rates=details.get("burn_rates", []),
        alerts=details.get("alerts", []),
        forecasts=details.get("forecasts", []),
        excluded_minutes=details.get("excluded_minutes", 0),
        customer_observed_minutes=details.get("customer_observed_minutes", 0),
        at_risk=objective.at_risk_rule or DEFAULT_AT_RISK,
        budget_exhausted_at=budget_runs_out(details),
        budget_target=details.get("budget_target"),
    )


async def visible_objective(session: SessionDep, principal: Principal, objective_id: str) -> Objective:
    """The objective if the principal may read it (its tenant; a customer only its own party's); 404 if not."""
    objective = await repository.find_objective(session, tenant=principal.tenant, objective_id=objective_id)
    if objective is None or (principal.is_customer_only and objective.consumer_party_id != principal.party):
        raise NotFound(f"No objective {objective_id}")
    return objective


@router.get("/objectives", response_model=Page[ObjectivePublic])
async def list_objectives(
    principal: ReaderDep,
    session: SessionDep,
    page: PageDep,
    service_key: Annotated[str | None, Query(alias="service", max_length=64)] = None,
    indicator: Annotated[str | None, Query(max_length=128)] = None,
    agreement_id: Annotated[str | None, Query(max_length=64)] = None,
    party: Annotated[str | None, Query(max_length=64, description="consumer party (staff only)")] = None,
    status: ObjectiveStatus | None = None,
    active: Annotated[bool | None, Query(description="only active (true) or inactive (false) objectives")] = True,
) -> Page[ObjectivePublic]:
    """List objectives with their latest evaluation, sorted by service, agreement and objective."""
    rows, total = await repository.list_objectives(
        session,
        tenant=principal.tenant,
        limit=page.limit,
        offset=page.offset,
        party=principal.party if principal.is_customer_only else party,
        service=service_key,
        indicator=indicator,
        agreement_id=agreement_id,
        status=status,
        active=active,
    )
    return Page(items=[objective_public(r) for r in rows], total=total, limit=page.limit, offset=page.offset)


def objective_public_as_of(objective: Objective, evaluated: Evaluated) -> ObjectivePublic:
    """The objective as a read-only evaluation found it, under the version then in force (nothing is stored)."""
    found, objective = evaluated.found, evaluated.objective
    details = details_of(found, objective.budgeting_method)
    budget = found.budget
    as_found = {
        **details,
        "status": found.verdict,
        "attainment": found.attainment,
        "good": found.window.good,
        "total": found.window.total,
        "window_start": found.bounds.start,
        "window_end": found.bounds.end,
        "budget": Budget(
            total=budget.total,
            consumed=budget.consumed,
            remaining=budget.remaining,
            remaining_ratio=budget.remaining_ratio,
        ),
        "firing_alerts": sorted(state.tier.name for state in found.alerts if state.firing),
        "evaluated_at": evaluated.as_of,
        "budget_exhausted_at": budget_runs_out(details),
        "budget_target": found.details.get("budget_target"),
    }
    return ObjectivePublic.model_validate({**objective_public(objective).model_dump(), **as_found})


async def get_objective(objective_id: str, principal: ReaderDep, request: Request, at: AtQuery = None) -> Response:
    """Read one objective: status, attainment, window, error budget, burn rates, alerts and forecasts.

    With `at`, everything is evaluated as of that instant from stored data (nothing is stored). The answer
    carries an `ETag`; send it back in `If-None-Match` to get 304 with no body while the answer is the same.
    """
    if at is not None:
        async with request.app.state.db.session(read_only=True) as session:
            objective = await visible_objective(session, principal, objective_id)
            evaluated = await evaluate_at(session, objective, at=as_of(request, at), now=utcnow())
        found = objective_public_as_of(objective, evaluated)
        return conditional_json(request, _OBJECTIVE_JSON.dump_json(found))  # built once, not validated again
    reads: Reader = request.app.state.db.reader  # not a dependency: one level less to resolve per request
    row = await lookups.objective_row(reads, tenant=principal.tenant, objective_id=objective_id)
    if row is None or (principal.is_customer_only and row.consumer_party_id != principal.party):
        raise NotFound(f"No objective {objective_id}")
    # the body is the row's alone (its reader checked above): an unchanged row's is answered as built before
    body, etag = OBJECTIVE_BODIES.body(row, lambda: _OBJECTIVE_JSON.dump_json(objective_public(row)))
    return conditional_json(request, body, etag)


async def get_objective_now(request: Request) -> Response:
    """`get_objective` with no query string (so no `at`), its arguments resolved by hand: the reader dependency
    itself (token, roles) and the path's id (any string). See `slm_shared.web.direct_route`."""
    return await get_objective(request.path_params["objective_id"], await READER_ROLES(request), request)


# What `@router.get` would register (OpenAPI unchanged), with the route class that answers a plain read directly.
router.add_api_route(
    "/objectives/{objective_id}",
    get_objective,
    methods=["GET"],
    response_model=ObjectivePublic,
    responses=NOT_MODIFIED_RESPONSES,
    openapi_extra=CONDITIONAL_OPENAPI,
    route_class_override=direct_route(get_objective_now, dependencies=(READER_ROLES,)),
)


@router.get("/objectives/{objective_id}/timeline", response_model=Page[TransitionPublic])
async def objective_timeline(
    objective_id: str, principal: ReaderDep, session: SessionDep, page: PageDep, request: Request, at: AtQuery = None
) -> Page[TransitionPublic]:
    """The objective's status changes, newest first; with `at`, those up to that instant (the first is its status)."""
    objective = await visible_objective(session, principal, objective_id)
    rows, total = await repository.list_transitions(
        session,
        tenant=principal.tenant,
        objective_row_id=objective.id,
        limit=page.limit,
        offset=page.offset,
        until=as_of(request, at) if at is not None else None,
    )
    items = [TransitionPublic.model_validate(row, from_attributes=True) for row in rows]
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


@router.get("/objectives/{objective_id}/burn-rate", response_model=BurnRateAt)
async def objective_burn_rate(
    objective_id: str,
    principal: ReaderDep,
    session: SessionDep,
    request: Request,
    lookback: Lookback = "1h",
    at: AtQuery = None,
) -> BurnRateAt:
    """Burn rate over any lookback ending now or at `at` (events; maintenance time is not left out here).

    Only time under a version in force that carries the objective counts, against that version's target.
    """
    objective = await visible_objective(session, principal, objective_id)
    try:
        length = parse_duration(lookback)
    except WindowError as exc:
        raise Unprocessable(str(exc), errors=[FieldError(field="lookback", message=str(exc))]) from exc
    instant = as_of(request, at)
    agreed = await agreed_of(session, objective)
    objective = as_defined_at(objective, agreed, instant)
    bounds = lookback_bounds(instant, length)
    parts = agreed.counted(objective.objective_id, bounds.start, bounds.end) if agreed is not None else [bounds]
    segments = versioned.segments(objective, agreed, {"lookback": parts}) or (
        versioned.Segment(objective.agreement_version, objective, {"lookback": parts}),
    )
    found = []
    for segment in segments:  # each version's part against its own threshold
        defined = segment.objective
        tallies = await buckets.range_tallies(
            session,
            tenant=defined.tenant,
            service=defined.service_key,
            indicator=counted_indicator(defined),
            ranges={"lookback": [(part, 1) for part in segment.parts["lookback"]]},
            scope=objective.scope,
        )
        found.append((segment, tallies))
    summed, targets, _ = versioned.combined(objective, found)
    tally = summed["lookback"]
    target = targets["lookback"] if len(segments) > 1 else objective.target
    return BurnRateAt(
        lookback=format_duration(length),
        start=bounds.start,
        end=bounds.end,
        good=tally.good,
        total=tally.total,
        burn_rate=burn_rate(tally, target),
    )


@router.put("/objectives/{objective_id}/policy", response_model=ObjectivePublic)
async def set_objective_policy(
    objective_id: str, body: ObjectivePolicy, principal: StaffDep, session: SessionDep
) -> ObjectivePublic:
    """Set the objective's burn-rate tiers and forecast lookbacks (null restores the defaults).

    An active objective is evaluated again at once, so the answer shows the new tiers' alerts; an inactive one
    answers with the stored policy and its last evaluation."""
    objective = await repository.find_objective(session, tenant=principal.tenant, objective_id=objective_id, lock=True)
    if objective is None:
        raise NotFound(f"No objective {objective_id}")
    for index, tier in enumerate(body.alert_policy or []):
        if parse_duration(tier.short_window) >= parse_duration(tier.long_window):
            raise Unprocessable(
                "a tier's short window must be shorter than its long window",
                errors=[
                    FieldError(field=f"alert_policy[{index}].short_window", message="not shorter than long_window")
                ],
            )
    for index, text in enumerate(body.forecast_lookbacks or []):
        try:
            parse_duration(text)
        except WindowError as exc:
            raise Unprocessable(
                str(exc), errors=[FieldError(field=f"forecast_lookbacks[{index}]", message=str(exc))]
            ) from exc
    kept = {t.name for t in body.alert_policy} if body.alert_policy else {t.name for t in DEFAULT_POLICY}
    burn_alerts.retire_removed_tiers(session, objective, kept, now=utcnow())
    objective.alert_policy = [t.model_dump() for t in body.alert_policy] if body.alert_policy else None
    objective.forecast_lookbacks = body.forecast_lookbacks
    objective.at_risk_rule = body.at_risk
    objective.needs_evaluation, objective.updated_at = True, utcnow()
    await session.flush()
    if objective.active:
        await service.evaluate_objective(session, objective, now=utcnow())
    return objective_public(objective)


@router.post("/objectives/{objective_id}/evaluate", response_model=ObjectivePublic)
async def evaluate_objective(objective_id: str, principal: StaffDep, session: SessionDep) -> ObjectivePublic:
    """Evaluate an objective now and return the result."""
    found = await repository.find_objective(session, tenant=principal.tenant, objective_id=objective_id)
    if found is None:
        raise NotFound(f"No objective {objective_id}")
    if not found.active:
        raise Conflict(f"Objective {objective_id} is not active (its agreement ended or has not started)")
    objective = await service.evaluate_now(session, tenant=principal.tenant, objective_row_id=found.id)
    return objective_public(objective)
