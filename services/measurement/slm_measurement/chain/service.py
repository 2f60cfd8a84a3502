"""Chain diagnosis (an SLA objective's supporting OLA/UC objectives over its window) and warnings up the chain."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from slm_measurement import terms
from slm_measurement.chain.graph import Reached, composable, contribution, walk
from slm_measurement.chain.models import ServiceDependency
from slm_measurement.models import Objective, ObjectiveTransition
from slm_measurement.policy import budget_runs_out
from slm_measurement.portfolio import names
from slm_measurement.working import evaluate_at
from slm_shared.bus import record_event
from slm_shared.contracts import EVENTS
from slm_shared.contracts.payloads import ChainRiskV1, DependencyChangedV1, ObjectiveStatusV1

SUPPORTING_KINDS = ("OLA", "UC")
TROUBLE = ("at_risk", "breached")


async def store_dependency(session: AsyncSession, *, tenant: str, dependency: DependencyChangedV1, added: bool) -> None:
    """Keep (or drop) one edge of the graph."""
    key = (tenant, dependency.service_key, dependency.supporting_service_key)
    row = await session.get(ServiceDependency, key)
    if added and row is None:
        session.add(ServiceDependency(tenant=tenant, service_key=key[1], supporting_key=key[2]))
    elif not added and row is not None:
        await session.execute(
            delete(ServiceDependency).where(
                col(ServiceDependency.tenant) == tenant,
                col(ServiceDependency.service_key) == key[1],
                col(ServiceDependency.supporting_key) == key[2],
            )
        )
    await session.flush()


async def edges(session: AsyncSession, *, tenant: str) -> list[tuple[str, str]]:
    rows = await session.execute(
        select(col(ServiceDependency.service_key), col(ServiceDependency.supporting_key)).where(
            col(ServiceDependency.tenant) == tenant
        )
    )
    return [(s, t) for s, t in rows.all()]


async def _objectives_on(
    session: AsyncSession, *, tenant: str, service_keys: Sequence[str], kinds: Sequence[str]
) -> list[Objective]:
    if not service_keys:
        return []
    rows = await session.scalars(
        select(Objective)
        .where(
            col(Objective.tenant) == tenant,
            col(Objective.service_key).in_(list(service_keys)),
            col(Objective.agreement_kind).in_(list(kinds)),
            col(Objective.ended).is_(False),
        )
        .order_by(Objective.service_key, Objective.agreement_id, Objective.objective_id)
    )
    return list(rows.all())


async def _statuses_within(session: AsyncSession, objective: Objective, start: datetime, end: datetime) -> list[str]:
    """The troubled statuses the objective was in at any time during [start, end)."""
    rows = await session.scalars(
        select(ObjectiveTransition)
        .where(
            col(ObjectiveTransition.tenant) == objective.tenant,
            col(ObjectiveTransition.objective_row_id) == objective.id,
        )
        .order_by(col(ObjectiveTransition.at), col(ObjectiveTransition.id))
    )
    seen: set[str] = set()
    before: str | None = None
    for change in rows.all():
        if change.at < start:
            before = change.to_status
        elif change.at < end:
            seen.add(change.to_status)
    if before is not None:
        seen.add(before)
    return sorted(seen & set(TROUBLE))


async def diagnose(
    session: AsyncSession, objective: Objective, *, start: datetime, end: datetime, now: datetime
) -> dict[str, Any]:
    """Which supporting OLA/UC objectives, every level down, were at risk or breached in [start, end), and how much."""
    own = (await evaluate_at(session, objective, start=start, end=end, now=now)).found
    below = {r.key: r for r in walk(await edges(session, tenant=objective.tenant), objective.service_key)}
    supporting = await _objectives_on(
        session, tenant=objective.tenant, service_keys=sorted(below), kinds=SUPPORTING_KINDS
    )
    items: list[dict[str, Any]] = []
    for other in supporting:
        reached: Reached = below[other.service_key]
        found = (await evaluate_at(session, other, start=start, end=end, now=now)).found
        joins = composable(objective.indicator_kind, objective.indicator, other.indicator_kind, other.indicator)
        items.append(
            {
                "agreement_id": other.agreement_id,
                "agreement_kind": other.agreement_kind,
                "objective_id": other.objective_id,
                "name": other.name or other.indicator,
                "service_key": other.service_key,
                "service_name": (
                    await names.names_of(session, tenant=other.tenant, service_key=other.service_key, party_id=None)
                )[0],
                "depth": reached.depth,
                "path": list(reached.path),
                "indicator": other.indicator,
                "indicator_kind": other.indicator_kind,
                "target": other.target,
                "attainment": found.attainment,
                "status_now": other.status,
                "troubled_in_window": await _statuses_within(session, other, start, end),
                "composable": joins,
                "contribution": contribution(own.attainment, found.attainment) if joins else None,
            }
        )
    items.sort(key=lambda i: (-(i["contribution"] or 0.0), i["depth"], i["service_key"], i["objective_id"]))
    return {
        "objective_id": objective.objective_id,
        "agreement_id": objective.agreement_id,
        "service_key": objective.service_key,
        "indicator": objective.indicator,
        "window": {"start": start, "end": end},
        "attainment": own.attainment,
        "target": objective.target,
        "status_now": objective.status,
        "troubled_in_window": await _statuses_within(session, objective, start, end),
        "supporting_services": [
            {"service_key": r.key, "depth": r.depth, "path": list(r.path)}
            for r in sorted(below.values(), key=lambda r: (r.depth, r.key))
        ],
        "implicated": [i for i in items if i["troubled_in_window"]],
        "supporting_objectives": items,
        "uncovered_services": sorted(set(below) - {o.service_key for o in supporting}),
    }


async def warn_dependents(session: AsyncSession, *, tenant: str, status: ObjectiveStatusV1) -> int:
    """A supporting OLA/UC objective is at risk or breached: warn every SLA above it, every level up; how many."""
    rows = await _objectives_on(session, tenant=tenant, service_keys=[status.service_key], kinds=SUPPORTING_KINDS)
    supporting = next(
        (o for o in rows if o.agreement_id == status.agreement_id and o.objective_id == status.objective_id), None
    )
    if supporting is None:
        return 0
    above = {r.key: r for r in walk(await edges(session, tenant=tenant), status.service_key, up=True)}
    slas = await _objectives_on(session, tenant=tenant, service_keys=sorted(above), kinds=("SLA",))
    by_agreement: dict[str, list[Objective]] = {}
    for objective in slas:
        by_agreement.setdefault(objective.agreement_id, []).append(objective)
    for agreement_id, objectives in sorted(by_agreement.items()):
        first = objectives[0]
        reached = above[first.service_key]
        named = await terms.versions(session, tenant=tenant, agreement_id=agreement_id)
        record_event(
            session,
            EVENTS.chain_at_risk,
            tenant=tenant,
            subject=agreement_id,
            data=ChainRiskV1(
                agreement_id=agreement_id,
                agreement_name=named[-1].name if named else "",
                service_key=first.service_key,
                consumer_party_id=first.consumer_party_id,
                affected_objective_ids=[
                    o.objective_id
                    for o in objectives
                    if composable(o.indicator_kind, o.indicator, supporting.indicator_kind, supporting.indicator)
                ],
                supporting_agreement_id=supporting.agreement_id,
                supporting_agreement_kind=supporting.agreement_kind,
                supporting_objective_id=supporting.objective_id,
                supporting_service_key=supporting.service_key,
                indicator=supporting.indicator,
                status=status.status,
                depth=reached.depth,
                path=list(reversed(reached.path)),
                attainment=status.attainment,
                objective=status.objective,
                budget_exhausted_at=status.budget_exhausted_at or budget_runs_out(supporting.details or {}),
                observed_at=status.observed_at,
                severity="critical" if status.status == "breached" else "warning",
            ),
        )
    return len(by_agreement)
