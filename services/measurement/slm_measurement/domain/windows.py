"""Compliance windows and the split of a time range into day, hour and minute buckets."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MINUTE = 60
HOUR = 3600
DAY = 86400

_DURATION = re.compile(r"^(\d{1,5})([mhdw])$")
_UNIT_SECONDS = {"m": MINUTE, "h": HOUR, "d": DAY, "w": 7 * DAY}

Granularity = Literal["minute", "hour", "day"]


class WindowError(ValueError):
    """A window definition that cannot be evaluated."""


@dataclass(frozen=True)
class WindowSpec:
    """A compliance window: rolling with a duration, or a calendar week/month/quarter in a zone."""

    kind: str
    duration: str | None = None
    unit: str | None = None
    timezone: str = "UTC"


@dataclass(frozen=True)
class Bounds:
    """A half-open instant range [start, end), both on minute boundaries, in UTC."""

    start: datetime
    end: datetime


@functools.lru_cache(maxsize=256)
def parse_duration(text: str) -> timedelta:
    """Parse a rolling length such as '28d', '12h', '90m' or '4w'."""
    match = _DURATION.match(text or "")
    if not match or int(match.group(1)) == 0:
        raise WindowError(f"duration {text!r} is not a positive length like '28d', '12h' or '90m'")
    return timedelta(seconds=int(match.group(1)) * _UNIT_SECONDS[match.group(2)])


@functools.lru_cache(maxsize=256)
def format_duration(length: timedelta) -> str:
    """'5m', '6h', '3d' (or seconds for odd lengths)."""
    seconds = int(length.total_seconds())
    for unit, size in (("d", DAY), ("h", 3600), ("m", MINUTE)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def zone(name: str) -> ZoneInfo:
    """The IANA time zone of that name."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise WindowError(f"unknown time zone {name!r}") from exc


def validate_window(window: WindowSpec) -> None:
    """Raise WindowError when the window cannot be evaluated."""
    window_bounds(window, datetime(2000, 1, 1, tzinfo=UTC))


def floor_minute(instant: datetime) -> datetime:
    return instant.astimezone(UTC).replace(second=0, microsecond=0)


def window_bounds(window: WindowSpec, now: datetime) -> Bounds:
    """The window containing `now`: rolling ends at the end of the current minute."""
    if window.kind == "rolling":
        end = floor_minute(now) + timedelta(minutes=1)
        return Bounds(start=end - parse_duration(window.duration or ""), end=end)
    if window.kind == "calendar":
        return calendar_bounds(window.unit or "", zone(window.timezone), now)
    raise WindowError(f"window kind {window.kind!r} is neither rolling nor calendar")


def calendar_bounds(unit: str, tz: ZoneInfo, now: datetime) -> Bounds:
    """The calendar week (ISO, from Monday), month or quarter containing `now`, in zone `tz`."""
    local = now.astimezone(tz)
    if unit == "week":
        first = (local - timedelta(days=local.weekday())).date()
        start_local = datetime(first.year, first.month, first.day, tzinfo=tz)
        nxt = first + timedelta(days=7)
        end_local = datetime(nxt.year, nxt.month, nxt.day, tzinfo=tz)
    elif unit in ("month", "quarter"):
        months = 1 if unit == "month" else 3
        first_month = local.month if unit == "month" else 3 * ((local.month - 1) // 3) + 1
        start_local = datetime(local.year, first_month, 1, tzinfo=tz)
        year, month = divmod(first_month - 1 + months, 12)
        end_local = datetime(local.year + year, month + 1, 1, tzinfo=tz)
    else:
        raise WindowError(f"calendar unit {unit!r} is not week, month or quarter")
    return Bounds(start=floor_minute(start_local), end=floor_minute(end_local))


def epoch_index(instant: datetime, seconds: int) -> int:
    """Whole `seconds`-long buckets between the Unix epoch and `instant`."""
    return int(instant.timestamp()) // seconds


@dataclass(frozen=True)
class Segment:
    """Buckets [first, stop) of one granularity, as epoch indices."""

    granularity: Granularity
    first: int
    stop: int


def split_range(bounds: Bounds) -> list[Segment]:
    """Cover [start, end) with whole days, then whole hours, then minutes at the ragged edges."""
    start, end = epoch_index(bounds.start, MINUTE) * MINUTE, epoch_index(bounds.end, MINUTE) * MINUTE
    if end <= start:
        return []
    segments: list[Segment] = []

    def add(granularity: Granularity, size: int, lo: int, hi: int) -> None:
        if hi > lo:
            segments.append(Segment(granularity, lo // size, hi // size))

    hour_lo, hour_hi = -(-start // HOUR) * HOUR, end // HOUR * HOUR
    if hour_lo >= hour_hi:
        add("minute", MINUTE, start, end)
        return segments
    day_lo, day_hi = -(-hour_lo // DAY) * DAY, hour_hi // DAY * DAY
    add("minute", MINUTE, start, hour_lo)
    if day_lo < day_hi:
        add("hour", HOUR, hour_lo, day_lo)
        add("day", DAY, day_lo, day_hi)
        add("hour", HOUR, day_hi, hour_hi)
    else:
        add("hour", HOUR, hour_lo, hour_hi)
    add("minute", MINUTE, hour_hi, end)
    return segments


def window_length(window: WindowSpec, now: datetime) -> timedelta:
    """The length of the window containing `now` (a calendar month in March 2026 Lisbon is 743 h)."""
    bounds = window_bounds(window, now)
    return bounds.end - bounds.start


def lookback_bounds(now: datetime, lookback: timedelta) -> Bounds:
    """The last `lookback` up to the end of the current minute."""
    end = floor_minute(now) + timedelta(minutes=1)
    return Bounds(start=floor_minute(end - lookback), end=end)


def clip(bounds: Bounds, start: datetime, end: datetime) -> Bounds | None:
    """The part of `bounds` inside [start, end), or None if they do not overlap."""
    lo, hi = max(bounds.start, start), min(bounds.end, end)
    return Bounds(lo, hi) if lo < hi else None
