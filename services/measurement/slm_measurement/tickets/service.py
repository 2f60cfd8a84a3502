"""Ticket operations: apply lifecycle events, recompute clocks, fire warnings and breaches, keep outcomes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from slm_measurement import bound_lists
from slm_measurement import terms as terms_model
from slm_measurement.models import Objective
from slm_measurement.tickets import clocks, events
from slm_measurement.tickets.models import Ticket, TicketEventRow, TicketOutcome
from slm_measurement.tickets.schemas import TicketEventIn
from slm_measurement.wake_keys import EVALUATION_PENDING
from slm_shared.db import utcnow
from slm_shared.errors import FieldError, Unprocessable
from slm_shared.terms import in_force

# The earliest next-due instant a transaction gave a ticket: after commit it wakes the ticket clock if sooner.
TICKET_DUE = "slm_measurement_ticket_due"
TICKET_KIND = "ticket_time"


@dataclass(frozen=True)
class TicketRules:
    """Warning shares and pause states (from settings)."""

    warnings: tuple[float, ...] = (0.5, 0.75)
    pause_states: frozenset[str] = clocks.DEFAULT_PAUSE_STATES


async def ingest_events(
    session: AsyncSession, *, tenant: str, batch: Sequence[TicketEventIn], rules: TicketRules
) -> tuple[int, int, int]:
    """Store new events (all or nothing; repeats ignored) and recompute the tickets they touch."""
    postgres = session.get_bind().dialect.name == "postgresql"
    ids = {e.id for e in batch}  # at most `router.MAX_EVENTS`; each list one parameter all the same (`bound_lists`)
    seen = set(
        (
            await session.scalars(
                select(col(TicketEventRow.event_id)).where(
                    col(TicketEventRow.tenant) == tenant,
                    bound_lists.is_in(col(TicketEventRow.event_id), "ids", postgres=postgres),
                ),
                {"ids": sorted(ids)},
            )
        ).all()
    )
    fresh: dict[str, TicketEventIn] = {}
    for event in batch:
        if event.id not in seen and event.id not in fresh:
            fresh[event.id] = event
    touched = sorted({e.ticket_id for e in fresh.values()})
    existing = {
        t.ticket_id: t
        for t in (
            await session.scalars(
                select(Ticket).where(
                    col(Ticket.tenant) == tenant, bound_lists.is_in(col(Ticket.ticket_id), "touched", postgres=postgres)
                ),
                {"touched": touched},
            )
        ).all()
    }
    opening = {e.ticket_id for e in fresh.values() if e.type == "opened"}
    errors = []
    for index, event in enumerate(batch):
        if event.id in fresh and event.ticket_id not in existing and event.ticket_id not in opening:
            errors.append(FieldError(field=f"[{index}].type", message="an unknown ticket must first be opened"))
        if event.type == "opened" and (event.service is None or event.priority is None):
            errors.append(FieldError(field=f"[{index}].service", message="an opened event needs service and priority"))
    if errors:
        raise Unprocessable("The ticket events were refused, nothing was stored", errors=errors[:50])
    for event in fresh.values():
        session.add(
            TicketEventRow(
                tenant=tenant,
                event_id=event.id,
                ticket_id=event.ticket_id,
                at=event.at,
                kind=event.type,
                state=event.state,
                paused=event.paused,
                priority=event.priority,
            )
        )
        ticket = existing.get(event.ticket_id)
        if ticket is None:
            ticket = existing[event.ticket_id] = Ticket(
                tenant=tenant, ticket_id=event.ticket_id, service_key=event.service or ""
            )
            session.add(ticket)
        if event.service:
            ticket.service_key = event.service
        if event.agreement_id:
            ticket.requested_agreement_id, ticket.agreement_id = event.agreement_id, None
        if event.customer:
            ticket.customer = event.customer
    await session.flush()
    now = utcnow()
    for ticket in existing.values():
        if ticket.ticket_id in touched:
            await evaluate_ticket(session, ticket, now=now, rules=rules)
    return len(fresh), len(batch) - len(fresh), len(touched)


async def ticket_events(session: AsyncSession, ticket: Ticket) -> list[clocks.TicketEvent]:
    rows = await session.scalars(
        select(TicketEventRow)
        .where(col(TicketEventRow.tenant) == ticket.tenant, col(TicketEventRow.ticket_id) == ticket.ticket_id)
        .order_by(col(TicketEventRow.at), col(TicketEventRow.received_at), col(TicketEventRow.id))
    )
    return [clocks.TicketEvent(r.at, r.kind, r.state, r.paused, r.priority) for r in rows.all()]


async def find_terms(session: AsyncSession, ticket: Ticket, opened_at: datetime) -> terms_model.AgreementTerms | None:
    """The agreement version a ticket falls under: the one it names, else the service's (and customer's) in force."""
    if ticket.requested_agreement_id:
        return await terms_model.terms_at(
            session, tenant=ticket.tenant, agreement_id=ticket.requested_agreement_id, instant=opened_at
        )
    query = select(terms_model.AgreementTerms).where(
        col(terms_model.AgreementTerms.tenant) == ticket.tenant,
        col(terms_model.AgreementTerms.service_key) == ticket.service_key,
    )
    if ticket.customer:
        query = query.where(col(terms_model.AgreementTerms.consumer_party_id) == ticket.customer)
    rows = (await session.scalars(query)).all()
    by_agreement: dict[str, list[terms_model.AgreementTerms]] = {}
    for row in rows:
        by_agreement.setdefault(row.agreement_id, []).append(row)
    candidates = []
    for versions in by_agreement.values():
        number = in_force.version_at([v.activated() for v in versions], opened_at)
        candidates += [v for v in versions if v.version == number]
    agreements = {t.agreement_id for t in candidates}
    if len(agreements) != 1:
        return None
    return max(candidates, key=lambda t: t.version)


@dataclass
class Evaluated:
    lifecycle: clocks.Lifecycle
    views: dict[str, clocks.ClockView]
    terms: terms_model.AgreementTerms | None


async def compute(session: AsyncSession, ticket: Ticket, *, now: datetime, rules: TicketRules) -> Evaluated:
    """The ticket's clocks at `now` (no side effects beyond mapping it to its agreement)."""
    life = clocks.lifecycle(await ticket_events(session, ticket), rules.pause_states)
    terms = None
    if life.opened_at is not None:
        terms = await find_terms(session, ticket, life.opened_at)
    views: dict[str, clocks.ClockView] = {}
    if terms is not None:
        calendar = clocks.calendar_of(terms.calendar, terms.timezone)
        for name in clocks.CLOCKS:
            goal = terms.goal(life.priority, name)
            if goal:
                views[name] = clocks.view(name, life.clocks[name], calendar, goal, now, rules.warnings)
    return Evaluated(life, views, terms)


def clock_document(found: Evaluated, name: str, now: datetime) -> dict[str, Any]:
    """One clock as the API shows it."""
    run = found.lifecycle.clocks[name]
    clock = found.views.get(name)
    if clock is None:
        calendar = clocks.calendar_of(found.terms.calendar, found.terms.timezone) if found.terms else None
        counted = clocks.elapsed(run, calendar, now) if calendar else 0.0
        state = "cancelled" if run.cancelled else "stopped" if run.stopped_at else "paused" if run.paused else "running"
        return {
            "goal_seconds": None, "elapsed_seconds": counted, "remaining_seconds": None, "share": None,
            "state": state, "paused": run.paused, "breach_at": None, "stopped_at": run.stopped_at, "warnings": {},
        }  # fmt: skip
    return {
        "goal_seconds": clock.goal_seconds,
        "elapsed_seconds": clock.elapsed_seconds,
        "remaining_seconds": clock.remaining_seconds,
        "share": clock.share,
        "state": clock.state,
        "paused": run.paused,
        "breach_at": clock.breach_at,
        "stopped_at": clock.stopped_at,
        "warnings": {f"{s:g}": i for s, i in clock.thresholds.items() if s != clocks.BREACH},
    }


async def evaluate_ticket(session: AsyncSession, ticket: Ticket, *, now: datetime, rules: TicketRules) -> None:
    """Recompute a ticket's clocks, report thresholds passed (once each), keep outcomes and the next due instant."""
    found = await compute(session, ticket, now=now, rules=rules)
    life, terms = found.lifecycle, found.terms
    ticket.priority, ticket.state, ticket.opened_at = life.priority, life.state, life.opened_at
    ticket.agreement_id = terms.agreement_id if terms else None
    ticket.consumer_party_id = terms.consumer_party_id if terms else None
    fired = {name: set(shares) for name, shares in (ticket.fired or {}).items()}
    due: list[datetime] = []
    for name, clock in found.views.items():
        done = fired.setdefault(name, set())
        report, silent = clocks.to_fire(clock, done, now)
        for share in report:
            assert terms is not None
            events.ticket_threshold(session, ticket, terms, clock, share, observed_at=now)
        done.update(report, silent)
        if (instant := clocks.next_due(clock, done, now)) is not None:
            due.append(instant)
    ticket.fired = {name: sorted(shares) for name, shares in fired.items()}
    ticket.clocks = {name: _jsonable(clock_document(found, name, now)) for name in clocks.CLOCKS}
    lowest = min(rules.warnings, default=clocks.BREACH)
    ticket.breached = any(c.state == "breached" for c in found.views.values())
    ticket.at_risk = not ticket.breached and any(
        c.state in ("running", "paused") and c.share >= lowest for c in found.views.values()
    )
    ticket.next_due_at, ticket.evaluated_at, ticket.updated_at = min(due, default=None), now, now
    if ticket.next_due_at is not None:
        earliest = session.info.get(TICKET_DUE)
        session.info[TICKET_DUE] = ticket.next_due_at if earliest is None else min(earliest, ticket.next_due_at)
    await _keep_outcomes(session, ticket, found)
    await session.flush()


def _jsonable(document: dict[str, Any]) -> dict[str, Any]:
    def convert(value: Any) -> Any:
        if isinstance(value, datetime):
            return value.isoformat()
        if isinstance(value, dict):
            return {k: convert(v) for k, v in value.items()}
        return value

    converted: dict[str, Any] = convert(document)
    return converted


async def _keep_outcomes(session: AsyncSession, ticket: Ticket, found: Evaluated) -> None:
    wanted: dict[str, tuple[datetime, bool]] = {}
    for name, clock in found.views.items():
        if clock.state == "met" and clock.stopped_at is not None:
            wanted[name] = (clock.stopped_at, True)
        elif clock.state == "breached" and clock.breach_at is not None:
            wanted[name] = (clock.breach_at, False)
    rows = {
        r.clock: r
        for r in (
            await session.scalars(select(TicketOutcome).where(col(TicketOutcome.ticket_row_id) == ticket.id))
        ).all()
    }
    current = {name: (r.concluded_at, r.met, r.agreement_id, r.priority) for name, r in rows.items()}
    target = {name: (at, met, ticket.agreement_id, ticket.priority) for name, (at, met) in wanted.items()}
    if current == target:
        return
    await session.execute(delete(TicketOutcome).where(col(TicketOutcome.ticket_row_id) == ticket.id))
    for name, (at, met) in wanted.items():
        session.add(
            TicketOutcome(
                ticket_row_id=ticket.id,
                clock=name,
                tenant=ticket.tenant,
                agreement_id=ticket.agreement_id or "",
                priority=ticket.priority or "",
                concluded_at=at,
                met=met,
            )
        )
    agreements = {ticket.agreement_id} | {r.agreement_id for r in rows.values()}
    await session.execute(
        update(Objective)
        .where(
            col(Objective.tenant) == ticket.tenant,
            col(Objective.agreement_id).in_(sorted(a for a in agreements if a)),
            col(Objective.indicator_kind) == TICKET_KIND,
            col(Objective.active).is_(True),
        )
        .values(needs_evaluation=True)
        .execution_options(synchronize_session=False)
    )
    session.info[EVALUATION_PENDING] = True


async def remap_service(session: AsyncSession, *, tenant: str, service_key: str, rules: TicketRules) -> int:
    """Re-evaluate the service's tickets not yet mapped to an agreement (after an activation)."""
    rows = (
        await session.scalars(
            select(Ticket).where(
                col(Ticket.tenant) == tenant,
                col(Ticket.service_key) == service_key,
                col(Ticket.agreement_id).is_(None),
            )
        )
    ).all()
    now = utcnow()
    for ticket in rows:
        await evaluate_ticket(session, ticket, now=now, rules=rules)
    return len(rows)
