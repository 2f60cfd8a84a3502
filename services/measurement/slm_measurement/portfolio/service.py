"""The portfolio read (one tenant, filtered by service, customer and period) and its proposals."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from slm_measurement import terms
from slm_measurement.chain import service as chain_service
from slm_measurement.chain.graph import walk
from slm_measurement.models import Objective
from slm_measurement.policy import budget_runs_out
from slm_measurement.portfolio.drafting import drafts_for
from slm_measurement.portfolio.models import CatalogService, Proposal, ReviewDue
from slm_measurement.reports import periods
from slm_measurement.reports.build import agreement_report
from slm_shared.auth import Principal
from slm_shared.bus import record_event
from slm_shared.contracts import EVENTS
from slm_shared.contracts.action_titles import render_reason, render_title
from slm_shared.contracts.payloads import ProposalDecidedV1
from slm_shared.db import utcnow
from slm_shared.errors import Conflict, NotFound
from slm_shared.terms import in_force

TREND_PERIODS = 12
RENEWAL_HORIZON = timedelta(days=90)
REVIEW_HORIZON = timedelta(days=30)


async def _latest_terms(
    session: AsyncSession, *, tenant: str, service_key: str | None, customer: str | None
) -> list[terms.AgreementTerms]:
    """The newest version of every agreement (filtered), ended ones left out."""
    query = select(terms.AgreementTerms).where(col(terms.AgreementTerms.tenant) == tenant)
    if service_key:
        query = query.where(col(terms.AgreementTerms.service_key) == service_key)
    if customer:
        query = query.where(col(terms.AgreementTerms.consumer_party_id) == customer)
    rows = (
        await session.scalars(query.order_by(col(terms.AgreementTerms.agreement_id), col(terms.AgreementTerms.version)))
    ).all()
    newest: dict[str, terms.AgreementTerms] = {}
    for row in rows:
        newest[row.agreement_id] = row
    return [row for row in newest.values() if row.ended_at is None]


async def _versions(session: AsyncSession, row: terms.AgreementTerms) -> list[in_force.ActivatedVersion]:
    return [v.activated() for v in await terms.versions(session, tenant=row.tenant, agreement_id=row.agreement_id)]


def _add(sums: dict[str, Decimal], currency: str | None, amount: Any) -> None:
    if currency and amount is not None:
        sums[currency] = sums.get(currency, Decimal(0)) + Decimal(str(amount))


async def portfolio(
    session: AsyncSession,
    principal: Principal,
    *,
    service_key: str | None,
    customer: str | None,
    period: periods.Period,
    months: int,
    now: datetime | None = None,
    lang: str = "en",
) -> dict[str, Any]:
    """Everything the senior manager's desk shows, for one tenant (platform-written text in `lang`)."""
    now = now or utcnow()
    tenant = principal.tenant
    agreements = await _latest_terms(session, tenant=tenant, service_key=service_key, customer=customer)
    slas = [a for a in agreements if a.kind == "SLA"]
    names = {
        s.service_key: s
        for s in (await session.scalars(select(CatalogService).where(col(CatalogService.tenant) == tenant))).all()
    }
    all_agreements = await _latest_terms(session, tenant=tenant, service_key=None, customer=None)
    with_sla = {a.service_key for a in all_agreements if a.kind == "SLA"}
    covered = {a.service_key for a in all_agreements if a.kind in ("OLA", "UC")}
    edges = await chain_service.edges(session, tenant=tenant)

    exposure_periods = [*periods.previous(period, months - 1), period] if months > 1 else [period]
    exposure: dict[str, dict[str, Any]] = {
        p.label: {"period": p.label, "revenue": {}, "credits_owed": {}, "customer_observed_credits": 0}
        for p in exposure_periods
    }
    trends: dict[str, dict[str, Any]] = {}
    for sla in slas:
        versions = await _versions(session, sla)
        for chosen in exposure_periods:
            if not in_force.within(versions, chosen.start, chosen.end):
                continue
            report = await agreement_report(
                session, sla, chosen, trend_count=TREND_PERIODS - 1 if chosen is period else 0, now=now
            )
            credit, entry = report["credit"], exposure[chosen.label]
            _add(entry["revenue"], credit["currency"], credit["period_price"])
            _add(entry["credits_owed"], credit["currency"], credit["amount"])
            entry["customer_observed_credits"] += 1 if credit["customer_observed"] and credit["amount"] else 0
            if chosen is not period:
                continue
            service = trends.setdefault(
                sla.service_key,
                {"service_key": sla.service_key, "service_name": _name(names, sla.service_key), "objectives": []},
            )
            for objective in report["objectives"]:
                service["objectives"].append(
                    {"agreement_id": sla.agreement_id, "agreement_name": sla.name,
                     "objective_id": objective["objective_id"], "name": objective["name"],
                     "target": objective["target"], "trend": objective["trend"]}
                )  # fmt: skip
    for service in trends.values():
        service["worst"] = _worst(service["objectives"])

    troubled = await _troubled(session, tenant=tenant, service_key=service_key, customer=customer)
    return {
        "period": {"label": period.label, "start": period.start, "end": period.end},
        "filters": {"service": service_key, "customer": customer},
        "services_without_sla": [
            {"service_key": key, "name": s.name}
            for key, s in sorted(names.items())
            if key not in with_sla and s.lifecycle != "retired" and (not service_key or key == service_key)
        ],
        "slas_without_cover": [item for sla in slas if (item := _uncovered(sla, edges, covered, names)) is not None],
        "slas_with_chain_risk": [
            {"agreement_id": sla.agreement_id, "name": sla.name, "service_key": sla.service_key, "risks": sla.risks}
            for sla in slas
            if sla.risks
        ],
        "exposure": [_money_of(entry) for entry in exposure.values()],
        "trends": sorted(trends.values(), key=lambda s: s["service_key"]),
        "at_risk_now": troubled,
        "reviews_due": await _reviews_due(session, tenant=tenant, agreements=agreements, now=now),
        "renewals_due": [
            {
                "agreement_id": a.agreement_id,
                "name": a.name,
                "service_key": a.service_key,
                "effective_to": a.effective_to,
            }
            for a in agreements
            if a.effective_to is not None and now <= a.effective_to <= now + RENEWAL_HORIZON
        ],
        "overdue_actions": await _overdue_actions(session, tenant=tenant, agreements=agreements, lang=lang),
        "proposals": [_proposal(p, lang) for p in await _open_proposals(session, tenant=tenant, agreements=agreements)],
    }


def _money_of(entry: dict[str, Any]) -> dict[str, Any]:
    """Revenue and credits owed per currency as decimal strings."""
    return {
        **entry,
        "revenue": {c: str(v) for c, v in entry["revenue"].items()},
        "credits_owed": {c: str(v) for c, v in entry["credits_owed"].items()},
    }


def _name(names: dict[str, CatalogService], key: str) -> str:
    found = names.get(key)
    return found.name if found else key


def _worst(objectives: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per period, the lowest attainment among the service's SLA objectives."""
    by_period: dict[str, float | None] = {}
    for objective in objectives:
        for point in objective["trend"]:
            value, known = point["attainment"], by_period.get(point["period"])
            if point["period"] not in by_period or (value is not None and (known is None or value < known)):
                by_period[point["period"]] = value
    return [{"period": label, "attainment": value} for label, value in sorted(by_period.items())]


def _uncovered(
    sla: terms.AgreementTerms, edges: list[tuple[str, str]], covered: set[str], names: dict[str, CatalogService]
) -> dict[str, Any] | None:
    below = walk(edges, sla.service_key)
    missing = sorted(r.key for r in below if r.key not in covered)
    if below and not missing:
        return None
    return {
        "agreement_id": sla.agreement_id,
        "name": sla.name,
        "service_key": sla.service_key,
        "service_name": _name(names, sla.service_key),
        "supporting_declared": bool(below),
        "uncovered_services": missing,
    }


async def _troubled(
    session: AsyncSession, *, tenant: str, service_key: str | None, customer: str | None
) -> list[dict[str, Any]]:
    query = select(Objective).where(
        col(Objective.tenant) == tenant,
        col(Objective.active).is_(True),
        col(Objective.status).in_(("at_risk", "breached")),
    )
    if service_key:
        query = query.where(col(Objective.service_key) == service_key)
    if customer:
        query = query.where(col(Objective.consumer_party_id) == customer)
    rows = (await session.scalars(query.order_by(Objective.service_key, Objective.objective_id))).all()
    return [
        {"agreement_id": o.agreement_id, "agreement_kind": o.agreement_kind, "objective_id": o.objective_id,
         "name": o.name or o.indicator, "service_key": o.service_key, "consumer_party_id": o.consumer_party_id,
         "status": o.status, "attainment": o.attainment, "target": o.target,
         "budget_exhausted_at": budget_runs_out(o.details or {})}
        for o in rows
    ]  # fmt: skip


async def _reviews_due(
    session: AsyncSession, *, tenant: str, agreements: list[terms.AgreementTerms], now: datetime
) -> list[dict[str, Any]]:
    wanted = {a.agreement_id for a in agreements}
    horizon = (now + REVIEW_HORIZON).date().isoformat()
    rows = (
        await session.scalars(
            select(ReviewDue)
            .where(col(ReviewDue.tenant) == tenant, col(ReviewDue.held).is_(False), col(ReviewDue.due_on) <= horizon)
            .order_by(ReviewDue.due_on, ReviewDue.review_id)
        )
    ).all()
    today = now.date()
    return [
        {"review_id": r.review_id, "agreement_id": r.agreement_id, "agreement_name": r.agreement_name,
         "due_on": r.due_on, "overdue": date.fromisoformat(r.due_on) < today}
        for r in rows
        if r.agreement_id in wanted
    ]  # fmt: skip


async def _overdue_actions(
    session: AsyncSession, *, tenant: str, agreements: list[terms.AgreementTerms], lang: str
) -> list[dict[str, Any]]:
    found = []
    for agreement in agreements:
        for action in await terms.open_actions(session, tenant=tenant, agreement_id=agreement.agreement_id):
            if action.overdue:
                found.append(
                    {"action_id": action.action_id, "agreement_id": agreement.agreement_id,
                     "title": render_title(action.title_key, action.title_params, lang, action.title),
                     "owner": action.owner, "due_on": action.due_on, "status": action.status}
                )  # fmt: skip
    return found


async def _open_proposals(
    session: AsyncSession, *, tenant: str, agreements: list[terms.AgreementTerms]
) -> Sequence[Proposal]:
    wanted = {a.agreement_id for a in agreements}
    rows = (
        await session.scalars(
            select(Proposal)
            .where(col(Proposal.tenant) == tenant, col(Proposal.status) == "proposed")
            .order_by(col(Proposal.created_at), col(Proposal.id))
        )
    ).all()
    return [p for p in rows if p.agreement_id in wanted]


def _proposal(p: Proposal, lang: str) -> dict[str, Any]:
    return {
        "id": p.id, "agreement_id": p.agreement_id, "agreement_name": p.agreement_name,
        "objective_id": p.objective_id, "service_key": p.service_key, "kind": p.kind, "period": p.period,
        "reason": render_reason(p.reason_key, p.reason_params, lang, p.reason), "reason_key": p.reason_key,
        "reason_params": p.reason_params, "evidence": p.evidence, "status": p.status, "created_at": p.created_at,
        "decided_at": p.decided_at, "decided_by": p.decided_by,
    }  # fmt: skip


async def draft(
    session: AsyncSession,
    principal: Principal,
    *,
    period: periods.Period,
    now: datetime | None = None,
    lang: str = "en",
) -> list[dict[str, Any]]:
    """Draft proposals for the next period from every SLA's 12-period trend and its status and forecast now."""
    now = now or utcnow()
    drafted = []
    for sla in await _latest_terms(session, tenant=principal.tenant, service_key=None, customer=None):
        if sla.kind != "SLA" or not in_force.within(await _versions(session, sla), period.start, period.end):
            continue
        report = await agreement_report(session, sla, period, trend_count=TREND_PERIODS - 1, now=now)
        rows = {
            o.objective_id: o
            for o in (
                await session.scalars(
                    select(Objective).where(
                        col(Objective.tenant) == sla.tenant, col(Objective.agreement_id) == sla.agreement_id
                    )
                )
            ).all()
        }
        for objective in report["objectives"]:
            row = rows.get(objective["objective_id"])
            misses = any(f.get("misses_target") for f in ((row.details or {}).get("forecasts", []) if row else []))
            for found in drafts_for(objective, row.status if row else None, misses):
                exists = await session.scalar(
                    select(Proposal).where(
                        col(Proposal.tenant) == sla.tenant, col(Proposal.agreement_id) == sla.agreement_id,
                        col(Proposal.objective_id) == objective["objective_id"], col(Proposal.kind) == found.kind,
                        col(Proposal.period) == period.label,
                    )
                )  # fmt: skip
                if exists is not None:
                    continue
                proposal = Proposal(
                    tenant=sla.tenant, agreement_id=sla.agreement_id, agreement_name=sla.name,
                    objective_id=objective["objective_id"], service_key=sla.service_key,
                    consumer_party_id=sla.consumer_party_id, kind=found.kind, period=period.label,
                    reason=found.reason, reason_key=found.reason_key, reason_params=found.reason_params,
                    evidence={"target": objective["target"], "trend": objective["trend"]},
                )  # fmt: skip
                session.add(proposal)
                await session.flush()
                drafted.append(_proposal(proposal, lang))
    return drafted


async def decide(
    session: AsyncSession, principal: Principal, *, proposal_id: str, accept: bool, lang: str = "en"
) -> dict[str, Any]:
    """A manager accepts or dismisses a drafted proposal; the decision is announced."""
    proposal = await session.get(Proposal, proposal_id, with_for_update=True)
    if proposal is None or proposal.tenant != principal.tenant:
        raise NotFound(f"No proposal {proposal_id}")
    if proposal.status != "proposed":
        raise Conflict(f"Proposal {proposal_id} was already {proposal.status}")
    proposal.status = "accepted" if accept else "dismissed"
    proposal.decided_at, proposal.decided_by = utcnow(), principal.subject[:200]
    await session.flush()
    record_event(
        session,
        EVENTS.proposal_decided,
        tenant=principal.tenant,
        subject=proposal.id,
        data=ProposalDecidedV1(
            proposal_id=proposal.id, agreement_id=proposal.agreement_id, agreement_name=proposal.agreement_name,
            objective_id=proposal.objective_id, service_key=proposal.service_key,
            consumer_party_id=proposal.consumer_party_id, kind=proposal.kind,
            decision=proposal.status,
            reason=proposal.reason, reason_key=proposal.reason_key,
            reason_params={k: str(v) for k, v in (proposal.reason_params or {}).items()} or None,
            period=proposal.period, decided_by=proposal.decided_by or "",
            decided_at=proposal.decided_at,
        ),
    )  # fmt: skip
    return _proposal(proposal, lang)


async def store_service(session: AsyncSession, *, tenant: str, data: dict[str, Any], retired: bool) -> None:
    row = await session.get(CatalogService, (tenant, data["key"]))
    row = row or CatalogService(tenant=tenant, service_key=data["key"], service_id=data["service_id"], name="")
    row.service_id, row.name = data["service_id"], str(data.get("name") or data["key"])[:200]
    row.lifecycle = "retired" if retired else str(data.get("lifecycle") or "live")
    session.add(row)
    await session.flush()


async def store_review_due(session: AsyncSession, *, tenant: str, data: dict[str, Any], held: bool) -> None:
    row = await session.get(ReviewDue, (tenant, data["review_id"]))
    if row is None:
        if held:
            return
        row = ReviewDue(
            tenant=tenant, review_id=data["review_id"], agreement_id=data["agreement_id"],
            agreement_name=str(data.get("agreement_name", ""))[:200], service_key=data.get("service_key", ""),
            consumer_party_id=data.get("consumer_party_id"), due_on=str(data["due_on"]),
        )  # fmt: skip
    row.held = row.held or held
    session.add(row)
    await session.flush()
