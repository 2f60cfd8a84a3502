"""What measurement's retention job deletes: minute data and cached slice tallies no window reads, long-closed tickets.

Minute buckets are rolled up into hours and days as they are written, so a minute older than
every window in use is read by no evaluation. Kept: the longest of `MEASUREMENT_MINUTE_RETENTION_DAYS`,
the lateness watermark (plus a day), every objective's window and lookbacks (a calendar window at
its longest, plus a day for its time zone), and, while any objective is measured, the periods the
automatic monthly report reads (the month and its trend months). Cut at a UTC day boundary. The
cached timeslice tallies (`slices`) of spans before the same cut go with them.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, and_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from slm_measurement.config import Settings
from slm_measurement.domain.alerts import lookbacks
from slm_measurement.domain.windows import DAY, MINUTE, WindowError, parse_duration
from slm_measurement.evaluator import DEFAULT_FORECAST_LOOKBACKS, policy_of
from slm_measurement.models import DayBucket, DayValueBin, MinuteBucket, MinuteValueBin, Objective, SliceTally
from slm_measurement.tickets.models import Ticket, TicketEventRow
from slm_shared.retention import Child, Purge

CALENDAR_LONGEST = {"week": timedelta(days=7), "month": timedelta(days=31), "quarter": timedelta(days=92)}
ZONE_SLACK = timedelta(days=1)
MONTH = timedelta(days=31)
CLOSED_TICKET_STATES = ("resolved", "closed", "cancelled")
_MINUTES: list[tuple[Table, Table]] = [
    (MinuteBucket.__table__, DayBucket.__table__),  # type: ignore[attr-defined]
    (MinuteValueBin.__table__, DayValueBin.__table__),  # type: ignore[attr-defined]
]


def reach(objective: Any) -> timedelta:
    """How far back an evaluation of the objective reads: its window or its longest lookback."""
    try:
        if objective.window_kind == "rolling":
            window = parse_duration(objective.window_duration or "")
        else:
            window = CALENDAR_LONGEST.get(objective.window_unit or "", CALENDAR_LONGEST["quarter"])
        policy = lookbacks(policy_of(objective))
        forecasts = {parse_duration(t) for t in objective.forecast_lookbacks or DEFAULT_FORECAST_LOOKBACKS}
    except (WindowError, KeyError, TypeError, ValueError):
        return CALENDAR_LONGEST["quarter"] + ZONE_SLACK  # unreadable: keep as much as the longest calendar window
    return max([window, *policy, *forecasts]) + ZONE_SLACK


async def minute_cutoff(session: AsyncSession, settings: Settings, now: datetime) -> int:
    """The first minute (since the epoch) still kept: every minute before it is read by no window in use."""
    keep = max(
        timedelta(days=settings.minute_retention_days),
        timedelta(seconds=settings.max_lateness_seconds) + timedelta(days=1),
    )
    columns = (
        col(Objective.window_kind),
        col(Objective.window_duration),
        col(Objective.window_unit),
        col(Objective.alert_policy),
        col(Objective.forecast_lookbacks),
    )
    rows = (await session.execute(select(*columns).where(col(Objective.ended).is_(False)))).all()
    if rows:
        keep = max(keep, (settings.report_trend_periods + 2) * MONTH)
    seen: set[str] = set()
    for row in rows:
        if (shape := repr(tuple(row))) not in seen:
            seen.add(shape)
            keep = max(keep, reach(row))
    first_day = int((now - keep).timestamp()) // DAY
    return first_day * (DAY // MINUTE)


async def minute_purges(session: AsyncSession, settings: Settings, now: datetime) -> list[Purge]:
    """One purge per series with minutes before the cutoff (each a seek on the series' key)."""
    cutoff = await minute_cutoff(session, settings, now)
    purges = []
    for minutes, days in _MINUTES:
        series = (
            await session.execute(
                select(days.c.tenant, days.c.service, days.c.indicator)
                .where(days.c.day < cutoff // (DAY // MINUTE))
                .distinct()
            )
        ).all()
        for tenant, service, indicator in series:
            where = and_(
                minutes.c.tenant == tenant,
                minutes.c.service == service,
                minutes.c.indicator == indicator,
                minutes.c.minute < cutoff,
            )
            purges.append(Purge(minutes.name, minutes, where))
    return purges


async def slice_tally_purge(session: AsyncSession, settings: Settings, now: datetime) -> Purge:
    """Cached timeslice tallies of spans before the minute cutoff (spans divide a day: none crosses it)."""
    tallies: Table = SliceTally.__table__  # type: ignore[attr-defined]
    return Purge(tallies.name, tallies, tallies.c.start < await minute_cutoff(session, settings, now))


def ticket_purge(settings: Settings, now: datetime) -> Purge:
    """Tickets closed, resolved or cancelled with nothing due and untouched for the retention period, with their events.

    Their outcomes (met or missed per clock) stay: compliance and reports count them.
    """
    tickets: Table = Ticket.__table__  # type: ignore[attr-defined]
    events: Table = TicketEventRow.__table__  # type: ignore[attr-defined]
    where = and_(
        tickets.c.state.in_(CLOSED_TICKET_STATES),
        tickets.c.next_due_at.is_(None),
        tickets.c.updated_at < now - timedelta(days=settings.ticket_retention_days),
    )
    return Purge(
        "tickets",
        tickets,
        where,
        order_by=(tickets.c.updated_at,),
        key=("id", "tenant", "ticket_id"),
        children=(Child(events, ("tenant", "ticket_id"), parent=("tenant", "ticket_id")),),
    )


async def purges(session: AsyncSession, settings: Any, now: datetime) -> list[Purge]:
    """Everything measurement's retention job deletes, besides the outbox, inbox and idempotency keys."""
    assert isinstance(settings, Settings)
    return [
        *await minute_purges(session, settings, now),
        await slice_tally_purge(session, settings, now),
        ticket_purge(settings, now),
    ]
