"""Assemble one agreement's report for a period from the read models, rollups and ticket outcomes."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from slm_measurement import repository, terms, versioned
from slm_measurement.agreed import Agreed, of_rows
from slm_measurement.domain import maintenance, observed
from slm_measurement.domain.budget import Tally, attainment, error_budget, meets
from slm_measurement.domain.windows import Bounds, floor_minute
from slm_measurement.evaluator import Read, maintenance_of, read_segmented, tally_ranges
from slm_measurement.models import Objective, ObjectiveTransition
from slm_measurement.observations import service as observation_service
from slm_measurement.portfolio import names
from slm_measurement.reports import credits, periods
from slm_measurement.reports.periods import Period
from slm_measurement.tickets import compliance
from slm_shared.db import utcnow
from slm_shared.terms import in_force
from slm_shared.terms.credits import CreditTerms

PERIOD = "period"
SHARE = Decimal("0.000001")


def generated_name(indicator: str, target: float) -> str:
    """The English name of an unnamed objective (documents translate it): e.g. 'Availability ≥ 99.9%'."""
    share = f"{target * 100:.3f}".rstrip("0").rstrip(".")
    return f"{indicator.split('#')[0].replace('_', ' ').capitalize()} ≥ {share}%"


def breaches(transitions: list[ObjectiveTransition], period: Period) -> list[dict[str, Any]]:
    """Stretches spent breached that overlap the period: start, end (None while still breached)."""
    found: list[dict[str, Any]] = []
    began: datetime | None = None
    for change in transitions:
        if change.to_status == "breached" and began is None:
            began = change.at
        elif change.to_status != "breached" and began is not None:
            found.append({"start": began, "end": change.at})
            began = None
    if began is not None:
        found.append({"start": began, "end": None})
    return [b for b in found if b["start"] < period.end and (b["end"] is None or b["end"] > period.start)]


async def _transitions(session: AsyncSession, objective: Objective) -> list[ObjectiveTransition]:
    rows = await session.scalars(
        select(ObjectiveTransition)
        .where(
            col(ObjectiveTransition.tenant) == objective.tenant,
            col(ObjectiveTransition.objective_row_id) == objective.id,
        )
        .order_by(col(ObjectiveTransition.at), col(ObjectiveTransition.id))
    )
    return list(rows.all())


def _in_period(objective: Objective, period: Period, versions: list[in_force.ActivatedVersion]) -> bool:
    """Whether the agreement was in force during the period and the objective not yet ended (or removed) by then."""
    if not in_force.within(versions, period.start, period.end):
        return False
    return not objective.ended or objective.updated_at > period.start


async def _read_in_force(
    session: AsyncSession, objective: Objective, labelled: dict[str, list[Bounds]], now: datetime, agreed: Agreed
) -> Read:
    """The tallies of the counted parts; cut by version, each against its own terms, when an amendment changed them."""
    segments = versioned.segments(objective, agreed, labelled)
    if segments is None:
        return Read(await _tallies_in_force(session, objective, labelled, now))
    spans = [part for parts in labelled.values() for part in parts]
    extent = Bounds(min(p.start for p in spans), max(p.end for p in spans))
    ranges = {label: Bounds(parts[0].start, parts[-1].end) if parts else extent for label, parts in labelled.items()}
    return await read_segmented(session, objective, ranges, segments, now_end=floor_minute(now))


def segment_rows(found: list[versioned.SegmentTally]) -> list[dict[str, Any]]:
    """Each version's part of the period with the terms it was judged by and what it counted."""
    return [
        {
            "agreement_version": s.version,
            "op": s.op,
            "value": s.value,
            "target": s.target,
            "timeslice_target": s.timeslice_target,
            "in_force": [{"start": b.start, "end": b.end} for b in s.bounds],
            "good": s.tally.good,
            "total": s.tally.total,
            "allowed": (1.0 - s.target) * s.tally.total,
        }
        for s in found
    ]


async def _tallies_in_force(
    session: AsyncSession, objective: Objective, labelled: dict[str, list[Bounds]], now: datetime
) -> dict[str, Tally]:
    ranges = {f"{label}|{index}": part for label, parts in labelled.items() for index, part in enumerate(parts)}
    found: dict[str, Tally] = {}
    if ranges:
        found, _ = await tally_ranges(session, objective, ranges, now_end=floor_minute(now))
    totals = {}
    for label, parts in labelled.items():
        total = Tally(0.0, 0.0)
        for index in range(len(parts)):
            total = total + found[f"{label}|{index}"]
        totals[label] = total
    return totals


async def objective_report(
    session: AsyncSession,
    objective: Objective,
    period: Period,
    trend: list[Period],
    now: datetime,
    agreed: Agreed,
) -> dict[str, Any]:
    """Attainment, target, budget, breaches, maintenance, trend and burn-down of one objective.

    The period is read in the objective's own window time zone, and only time while a version of the
    agreement that carries the objective was in force is counted (as in live evaluation).
    """
    period = periods.in_zone(period, objective.window_timezone)
    trend = [periods.in_zone(p, objective.window_timezone) for p in trend]
    until = floor_minute(now) + timedelta(minutes=1)  # up to the end of the current minute, as live evaluation
    end = min(period.end, until)

    def counted(start: datetime, stop: datetime) -> list[Bounds]:
        return agreed.counted(objective.objective_id, start, stop)

    labelled = {PERIOD: counted(period.start, max(end, period.start))}
    for earlier in trend:
        labelled[earlier.label] = counted(earlier.start, min(earlier.end, until))
    checkpoints = periods.checkpoints(period, now) if end > period.start else []
    for index, instant in enumerate(checkpoints):
        labelled[f"#{index}"] = counted(period.start, instant)
    read = await _read_in_force(session, objective, labelled, now, agreed)
    tallies, targets = read.tallies, read.targets or {}
    tally = tallies[PERIOD]
    value = attainment(tally.good, tally.total)
    target = targets.get(PERIOD, objective.target)
    budget = error_budget(value, target)
    burn_down = []
    for index, instant in enumerate(checkpoints):
        part = tallies[f"#{index}"]
        left = error_budget(attainment(part.good, part.total), targets.get(f"#{index}", objective.target))
        burn_down.append({"at": instant, "remaining_ratio": left.remaining_ratio})
    trend_points = [
        {"period": p.label, "attainment": attainment(tallies[p.label].good, tallies[p.label].total)} for p in trend
    ]
    trend_points.append({"period": period.label, "attainment": value})
    spans = observed.spans_of(objective.observed)
    seen_minutes = sum(
        observed.observed_minutes(spans, part, maintenance.excluded_intervals(maintenance_of(objective), part))
        for part in labelled[PERIOD]
    )
    by_version = {}
    if read.segments is not None:  # an amendment changed the terms inside the period
        by_version = {"budget_target": target, "versions": segment_rows(read.segments[PERIOD])}
    return {
        "objective_id": objective.objective_id,
        "name": objective.name or generated_name(objective.indicator, objective.target),
        "generated_name": objective.name is None,
        "customer_observed_minutes": seen_minutes,
        "window": {"start": period.start, "end": period.end, "timezone": period.timezone},
        "in_force": [{"start": b.start, "end": b.end} for b in labelled[PERIOD]],
        "indicator": objective.indicator,
        "indicator_kind": objective.indicator_kind,
        "target": objective.target,
        "op": objective.op,
        "value": objective.value,
        "good": tally.good,
        "total": tally.total,
        "attainment": value,
        "met": None if value is None else meets(value, target),
        "budget_remaining_ratio": budget.remaining_ratio if value is not None else None,
        "breaches": breaches(await _transitions(session, objective), period),
        "trend": trend_points,
        "burn_down": burn_down,
        **by_version,
    }


async def agreement_objectives(
    session: AsyncSession, *, tenant: str, agreement_id: str, period: Period, versions: list[in_force.ActivatedVersion]
) -> list[Objective]:
    rows = await repository.agreement_objectives(session, tenant=tenant, agreement_id=agreement_id)
    return sorted((r for r in rows if _in_period(r, period, versions)), key=lambda r: r.objective_id)


def maintenance_in(objectives: list[Objective], period: Period) -> dict[str, Any]:
    """The maintenance time left out of the period (the agreement's windows, merged)."""
    windows = maintenance_of(objectives[0]) if objectives else []
    intervals = maintenance.excluded_intervals(windows, Bounds(period.start, period.end))
    minutes = sum(int((b.end - b.start).total_seconds()) // 60 for b in intervals)
    return {"minutes": minutes, "windows": [{"start": b.start, "end": b.end} for b in intervals]}


async def agreement_report(
    session: AsyncSession,
    agreement: terms.AgreementTerms,
    period: Period,
    *,
    trend_count: int,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The whole report of one agreement for one period, as plain data."""
    now = now or utcnow()
    trend = periods.previous(period, trend_count)
    rows = await terms.versions(session, tenant=agreement.tenant, agreement_id=agreement.agreement_id)
    agreed = of_rows(rows)
    versions = list(agreed.versions)
    objectives = await agreement_objectives(
        session, tenant=agreement.tenant, agreement_id=agreement.agreement_id, period=period, versions=versions
    )
    reports = [await objective_report(session, o, period, trend, now, agreed) for o in objectives]
    found = await compliance.outcomes(
        session, tenant=agreement.tenant, agreement_id=agreement.agreement_id, start=period.start, end=period.end
    )
    price = await terms.price_of(session, agreement)
    length = (period.end - period.start).total_seconds()
    in_force_seconds = sum(
        (s.end - s.start).total_seconds() for s in in_force.within(versions, period.start, period.end) if s.end
    )
    credit = credits.credit_owed(
        [credits.Attained(r["objective_id"], r["indicator"], r["attainment"]) for r in reports],
        agreement.credit_schedule,
        price.model_dump(mode="json") if price else None,
        months=period.months,
        seconds=length,
        terms=CreditTerms.model_validate(agreement.credit_terms or {}),
        in_force_share=(Decimal(str(in_force_seconds)) / Decimal(str(length))).quantize(SHARE)
        if length
        else Decimal(0),
    )
    actions = await terms.open_actions(session, tenant=agreement.tenant, agreement_id=agreement.agreement_id)
    seen = await observation_service.of_agreement(
        session, tenant=agreement.tenant, agreement_id=agreement.agreement_id, start=period.start, end=period.end
    )
    notes = await observation_service.annotations_of(
        session, tenant=agreement.tenant, observation_ids=[o.id for o in seen]
    )
    decided_by = next((r for r in reports if r["objective_id"] == credit.objective_id), None)
    service_name, customer_name = await names.names_of(
        session, tenant=agreement.tenant, service_key=agreement.service_key, party_id=agreement.consumer_party_id
    )
    return {
        "agreement_id": agreement.agreement_id,
        "agreement_name": agreement.name,
        "service_name": service_name,
        "customer_name": customer_name,
        "agreement_kind": agreement.kind,
        "agreement_version": agreement.version,
        "service_key": agreement.service_key,
        "consumer_party_id": agreement.consumer_party_id,
        "period": {"label": period.label, "kind": period.kind, "start": period.start, "end": period.end,
                   "timezone": period.timezone},
        "generated_at": now,
        "objectives": reports,
        "objectives_met": sum(1 for r in reports if r["met"] is True),
        "objectives_missed": sum(1 for r in reports if r["met"] is False),
        "tickets": compliance.by_priority(found),
        "maintenance": maintenance_in(objectives, period),
        "actions": [
            {"action_id": a.action_id, "title": a.title, "owner": a.owner, "due_on": a.due_on, "status": a.status,
             "overdue": a.overdue, "title_key": a.title_key, "title_params": a.title_params,
             "description": a.description or "", "description_key": a.description_key,
             "description_params": a.description_params,
             "change_status": a.change_status, "change_ref": a.change_ref}
            for a in actions
        ],
        "observations": [
            {"observation_id": o.id, "source": "customer-observed", "kind": o.kind, "summary": o.summary,
             "start": o.start, "end": o.end, "impact": o.impact, "reference": o.reference,
             "objective_ids": o.objective_ids, "counts": o.counts and o.withdrawn_at is None,
             "withdrawn_at": o.withdrawn_at,
             "annotations": [{"note": a.note, "cause": a.cause, "incident_ref": a.incident_ref,
                              "problem_ref": a.problem_ref, "author": a.author, "created_at": a.created_at}
                             for a in notes[o.id]]}
            for o in seen
        ],
        "credit": {
            "customer_observed": bool(decided_by and decided_by["customer_observed_minutes"]),
            "percent": credit.percent,
            "objective_id": credit.objective_id,
            "attainment": credit.attainment,
            "period_price": credit.base,
            "amount": credit.amount,
            "currency": credit.currency,
            "cap_percent": credit.cap_percent,
            "partial_period": credit.partial_period,
            "in_force_share": credit.in_force_share,
        },
    }  # fmt: skip
