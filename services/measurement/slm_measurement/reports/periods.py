"""Reporting periods: a month (2026-03), a quarter (2026-Q1) or any range, in the agreement's time zone."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from slm_shared.web.bounds import EARLIEST, LATEST

_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$")
MAX_POINTS = 62
# Months and quarters lie wholly inside the API's instant bounds in every zone; ranges within them.
MIN_YEAR, MAX_YEAR = EARLIEST.year + 1, LATEST.year - 1


class PeriodError(ValueError):
    """A period that cannot be read."""


@dataclass(frozen=True)
class Period:
    """[start, end) in UTC; `kind` is month, quarter or range."""

    label: str
    kind: str
    start: datetime
    end: datetime
    timezone: str = "UTC"

    @property
    def months(self) -> int | None:
        return {"month": 1, "quarter": 3}.get(self.kind)


def _local(year: int, month: int, tz: ZoneInfo) -> datetime:
    year, month = year + (month - 1) // 12, (month - 1) % 12 + 1
    return datetime(year, month, 1, tzinfo=tz).astimezone(UTC)


def _check_year(year: int) -> None:
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise PeriodError(f"period year must be from {MIN_YEAR} to {MAX_YEAR}")


def month(year: int, number: int, timezone: str = "UTC") -> Period:
    _check_year(year)
    tz = ZoneInfo(timezone)
    start, end = _local(year, number, tz), _local(year, number + 1, tz)
    return Period(f"{year:04d}-{number:02d}", "month", start, end, timezone)


def quarter(year: int, number: int, timezone: str = "UTC") -> Period:
    _check_year(year)
    tz = ZoneInfo(timezone)
    first = 3 * (number - 1) + 1
    return Period(f"{year:04d}-Q{number}", "quarter", _local(year, first, tz), _local(year, first + 3, tz), timezone)


def parse(text: str | None, *, start: datetime | None, end: datetime | None, timezone: str) -> Period:
    """The period named by `text` (month or quarter), else the range [start, end)."""
    if text:
        if match := _MONTH.match(text):
            return month(int(match.group(1)), int(match.group(2)), timezone)
        if match := _QUARTER.match(text):
            return quarter(int(match.group(1)), int(match.group(2)), timezone)
        raise PeriodError(f"period {text!r} is neither a month like 2026-03 nor a quarter like 2026-Q1")
    if start is None or end is None:
        raise PeriodError("give a period, or both start and end")
    if start.tzinfo is None or end.tzinfo is None:
        raise PeriodError("start and end need a UTC offset")
    if end <= start or end - start > timedelta(days=3 * 366):
        raise PeriodError("start must be before end, at most three years apart")
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    if start < EARLIEST or end > LATEST:
        raise PeriodError(f"start and end must be from {EARLIEST.year} and before {LATEST.year}")
    return Period(f"{start.date().isoformat()}/{end.date().isoformat()}", "range", start, end, timezone)


def in_zone(period: Period, timezone: str) -> Period:
    """The same month or quarter in another zone (an objective's own window zone); a range is kept as it is."""
    if period.kind not in ("month", "quarter") or period.timezone == timezone:
        return period
    year, number = int(period.label[:4]), int(period.label[-1] if period.kind == "quarter" else period.label[5:7])
    return month(year, number, timezone) if period.kind == "month" else quarter(year, number, timezone)


def previous(period: Period, count: int) -> list[Period]:
    """The `count` periods before this one, oldest first (ranges step back by their own length).

    Fewer when the bounds of the API are reached: the trend stops at the earliest period it can name.
    """
    found = []
    current = period
    for _ in range(count):
        if current.kind in ("month", "quarter"):
            tz = ZoneInfo(current.timezone)
            local = (current.start).astimezone(tz)
            step = 1 if current.kind == "month" else 3
            year, number = local.year, local.month - step
            if number < 1:
                year, number = year - 1, number + 12
            if year < MIN_YEAR:
                break
            current = (
                month(year, number, current.timezone)
                if step == 1
                else quarter(year, (number - 1) // 3 + 1, current.timezone)
            )
        else:
            length = current.end - current.start
            if current.start - EARLIEST < length:
                break
            start = current.start - length
            current = Period(
                f"{start.date().isoformat()}/{current.start.date().isoformat()}",
                "range",
                start,
                current.start,
                current.timezone,
            )
        found.append(current)
    return list(reversed(found))


def checkpoints(period: Period, now: datetime) -> list[datetime]:
    """Instants for a burn-down: each local midnight after the start, up to the end (or now), at most MAX_POINTS."""
    tz = ZoneInfo(period.timezone)
    stop = min(period.end, now)
    days: list[datetime] = []
    local = period.start.astimezone(tz)
    day = local.date()
    while True:
        day += timedelta(days=1)
        instant = datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC)
        if instant >= stop:
            break
        days.append(instant)
    days.append(stop)
    if len(days) > MAX_POINTS:
        step = -(-len(days) // MAX_POINTS)
        picked = days[step - 1 :: step]
        days = picked if picked[-1] == stop else [*picked, stop]
    return days


def last_closed_month(now: datetime, timezone: str) -> Period:
    """The most recent month of the zone that has ended by `now`."""
    local = now.astimezone(ZoneInfo(timezone))
    year, number = (local.year, local.month - 1) if local.month > 1 else (local.year - 1, 12)
    return month(year, number, timezone)
