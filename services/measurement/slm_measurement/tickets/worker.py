"""The ticket clock worker: wakes for each ticket whose next warning or breach instant has come."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from slm_measurement import failures
from slm_measurement.config import Settings
from slm_measurement.tickets.models import Ticket
from slm_measurement.tickets.service import TICKET_DUE, TicketRules, evaluate_ticket
from slm_shared.app import ServiceContext
from slm_shared.db import Database, utcnow
from slm_shared.tasks import checkpoint, sleep_until_due, wait_for_event

logger = logging.getLogger(__name__)


def rules_of(settings: Settings) -> TicketRules:
    return TicketRules(
        warnings=tuple(sorted(settings.ticket_warning_shares)),
        pause_states=frozenset(s.lower() for s in settings.ticket_pause_states),
    )


async def fire_due_tickets(db: Database, *, rules: TicketRules, limit: int = 100, now: datetime | None = None) -> int:
    """Re-evaluate tickets whose next threshold instant has passed (as of `now`, the clock's time unless given);
    returns how many went through.

    Each ticket is evaluated in its own savepoint: one that fails is rolled back alone, recorded in
    `item_failures` with the reason and retried after a backoff, while the others are kept.
    """
    async with db.session() as session:
        now = now or utcnow()
        held = await failures.held_back(session, kind=failures.TICKET, now=now)
        query = select(Ticket).where(col(Ticket.next_due_at) <= now)
        if held:
            query = query.where(col(Ticket.id).not_in(sorted(held)))
        rows = (
            await session.scalars(
                query.order_by(col(Ticket.next_due_at), col(Ticket.id)).limit(limit).with_for_update(skip_locked=True)
            )
        ).all()
        done = []
        for ticket, (item_id, tenant) in zip(rows, [(t.id, t.tenant) for t in rows], strict=True):
            try:
                async with session.begin_nested():
                    await evaluate_ticket(session, ticket, now=now, rules=rules)
            except Exception as exc:  # noqa: BLE001 - one bad ticket must not undo the others
                await failures.record(session, kind=failures.TICKET, tenant=tenant, item_id=item_id, error=exc, now=now)
                continue
            done.append(item_id)
        await failures.succeeded(session, kind=failures.TICKET, item_ids=done)
        await failures.forget_missing(session, kind=failures.TICKET, id_column=Ticket.id)
    return len(done)


async def next_due(db: Database, *, after: datetime) -> datetime | None:
    """The earliest next-due instant later than `after` (those already past are held back after a failure)."""
    async with db.session(read_only=True) as session:
        return await session.scalar(select(func.min(col(Ticket.next_due_at))).where(col(Ticket.next_due_at) > after))


async def ticket_clock_worker(context: ServiceContext) -> None:
    """Fire ticket warnings and breaches on time, even when no new event arrives.

    Between passes it sleeps until the earliest next-due instant (read once), woken sooner by a commit in
    this process that gave a ticket an earlier one; `ticket_poll_seconds` bounds the sleep, for instants
    other processes set and for held-back tickets.
    """
    settings = context.settings
    assert isinstance(settings, Settings)
    rules = rules_of(settings)
    wake = asyncio.Event()
    planned: list[datetime | None] = [None]  # when the current sleep ends

    def _after_commit(session: AsyncSession) -> None:
        due = session.info.pop(TICKET_DUE, None)
        if due is not None and (planned[0] is None or due < planned[0]):
            wake.set()

    context.db.after_commit.append(_after_commit)
    try:
        while True:
            checkpoint()
            wake.clear()
            started = utcnow()
            try:
                fired = await fire_due_tickets(context.db, rules=rules, now=started)
                if fired:
                    continue
                due = await next_due(context.db, after=started)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the worker must outlive any single failure
                checkpoint()
                logger.warning("ticket clock pass failed (%s); retrying", exc)
                due = None
            left = None if due is None else (due - utcnow()).total_seconds()
            wait = sleep_until_due(left, bound=settings.ticket_poll_seconds)
            planned[0] = utcnow() + timedelta(seconds=wait)
            await wait_for_event(wake, wait)
            planned[0] = None
    finally:
        context.db.after_commit.remove(_after_commit)
