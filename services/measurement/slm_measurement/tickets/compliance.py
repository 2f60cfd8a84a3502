"""Ticket compliance: concluded clocks counted per window, for `ticket_time` objectives and reports.

A `ticket_time` objective counts each concluded clock of its agreement's tickets as one event,
good when met, at the instant it concluded (stopped in time, or breached). Its indicator name
chooses what counts: a name containing `response` or `resolution` counts that clock only (else
both), and a `p1`..`p4` token counts that priority only (e.g. `ticket_resolution_p1`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from slm_measurement.domain.budget import Tally
from slm_measurement.domain.windows import Bounds
from slm_measurement.tickets.clocks import CLOCKS
from slm_measurement.tickets.models import TicketOutcome

_PRIORITY = re.compile(r"(?<![a-z0-9])p([1-4])(?![0-9])")


@dataclass(frozen=True)
class Selection:
    """Which clocks and priorities a `ticket_time` indicator counts (None: all)."""

    clock: str | None
    priority: str | None


def selection_of(indicator: str) -> Selection:
    name = indicator.lower()
    clock = next((c for c in CLOCKS if c in name), None)
    match = _PRIORITY.search(name)
    return Selection(clock, f"P{match.group(1)}" if match else None)


async def outcomes(
    session: AsyncSession, *, tenant: str, agreement_id: str, start: datetime, end: datetime
) -> list[tuple[datetime, str, str, bool]]:
    """(concluded_at, clock, priority, met) of the agreement's clocks concluded in [start, end)."""
    rows = await session.execute(
        select(
            col(TicketOutcome.concluded_at),
            col(TicketOutcome.clock),
            col(TicketOutcome.priority),
            col(TicketOutcome.met),
        ).where(
            col(TicketOutcome.tenant) == tenant,
            col(TicketOutcome.agreement_id) == agreement_id,
            col(TicketOutcome.concluded_at) >= start,
            col(TicketOutcome.concluded_at) < end,
        )
    )
    return [(at, clock, priority, bool(met)) for at, clock, priority, met in rows.all()]


def tally(found: list[tuple[datetime, str, str, bool]], selection: Selection, bounds: Bounds) -> Tally:
    """Met and concluded clocks inside the bounds, as good and total."""
    good = total = 0
    for at, clock, priority, met in found:
        if not bounds.start <= at < bounds.end:
            continue
        if selection.clock not in (None, clock) or selection.priority not in (None, priority):
            continue
        total += 1
        good += int(met)
    return Tally(float(good), float(total))


async def range_tallies(
    session: AsyncSession, *, tenant: str, agreement_id: str, indicator: str, ranges: dict[str, Bounds]
) -> dict[str, Tally]:
    """Ticket tallies for every labelled range, from one query."""
    start, end = min(r.start for r in ranges.values()), max(r.end for r in ranges.values())
    found = await outcomes(session, tenant=tenant, agreement_id=agreement_id, start=start, end=end)
    selection = selection_of(indicator)
    return {label: tally(found, selection, bounds) for label, bounds in ranges.items()}


def by_priority(found: list[tuple[datetime, str, str, bool]]) -> list[dict[str, object]]:
    """Compliance per priority and clock: met, total and share."""
    table: dict[tuple[str, str], list[int]] = {}
    for _at, clock, priority, met in found:
        counts = table.setdefault((priority, clock), [0, 0])
        counts[0] += int(met)
        counts[1] += 1
    return [
        {"priority": p, "clock": c, "met": m, "total": t, "compliance": m / t if t else None}
        for (p, c), (m, t) in sorted(table.items())
    ]
