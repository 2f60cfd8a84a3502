"""Pure review scheduling: the dates a review cycle falls on."""

from __future__ import annotations

import calendar
from datetime import date

CYCLE_MONTHS = {"monthly": 1, "quarterly": 3, "yearly": 12}
MAX_SCHEDULED = 24


def add_months(start: date, months: int) -> date:
    """The same day `months` later, or the month's last day when it is shorter."""
    month_index = start.month - 1 + months
    year, month = start.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


def review_dates(start: date, cycle: str, *, after: date, end: date | None) -> list[date]:
    """Review dates every cycle from `start`, later than `after`: through `end`, or a year ahead if open-ended."""
    months = CYCLE_MONTHS[cycle]
    horizon = end if end is not None else add_months(after, 12)
    dates: list[date] = []
    step = 1
    while len(dates) < MAX_SCHEDULED:
        due = add_months(start, months * step)
        if due > horizon:
            break
        if due > after:
            dates.append(due)
        step += 1
    return dates
