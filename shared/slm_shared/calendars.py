"""Business time: weekly hours in an IANA time zone, minus explicit and public holidays.

Pure functions. Business time is real elapsed time inside business hours, so a day with a
daylight-saving change counts the hours the clock actually ran (23 h or 25 h for a 24 h day).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays as public_holidays

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MINUTES_PER_DAY = 24 * 60
MINUTES_PER_WEEK = 7 * MINUTES_PER_DAY
_CLOCK = re.compile(r"^([01][0-9]|2[0-4]):([0-5][0-9])$")
_SEARCH_DAYS = 3 * 366


@dataclass(frozen=True, order=True)
class BusinessHours:
    """One stretch of business hours on a weekday, in minutes after local midnight (end may be 1440)."""

    weekday: int
    start_minute: int
    end_minute: int

    def __post_init__(self) -> None:
        if not 0 <= self.weekday <= 6:
            raise ValueError("weekday must be 0 (Monday) to 6 (Sunday)")
        if not 0 <= self.start_minute < self.end_minute <= MINUTES_PER_DAY:
            raise ValueError("business hours must start before they end, within one day")


@dataclass(frozen=True)
class Calendar:
    """Weekly business hours in a time zone, with holidays on which nothing counts."""

    timezone: str = "UTC"
    hours: tuple[BusinessHours, ...] = ()
    holidays: frozenset[date] = field(default_factory=frozenset)
    country: str | None = None
    subdivision: str | None = None

    def __post_init__(self) -> None:
        check_timezone(self.timezone)
        if self.country is not None:
            check_country(self.country, self.subdivision)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def is_holiday(self, day: date) -> bool:
        """Whether `day` (a local date) is an explicit or public holiday."""
        if day in self.holidays:
            return True
        return self.country is not None and day in _public_holidays(self.country, self.subdivision, day.year)


def check_timezone(name: str) -> None:
    """Raise ValueError unless `name` is an IANA time zone."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc


def check_country(country: str, subdivision: str | None = None) -> None:
    """Raise ValueError unless the `holidays` package knows the country (and subdivision)."""
    try:
        public_holidays.country_holidays(country, subdiv=subdivision, years=2000)
    except (NotImplementedError, KeyError) as exc:
        raise ValueError(f"no public holidays known for {country!r} {subdivision or ''}".strip()) from exc


ALWAYS = Calendar(hours=tuple(BusinessHours(day, 0, MINUTES_PER_DAY) for day in range(7)))


@lru_cache(maxsize=512)
def _public_holidays(country: str, subdivision: str | None, year: int) -> frozenset[date]:
    return frozenset(public_holidays.country_holidays(country, subdiv=subdivision, years=year).keys())


def parse_clock(text: str) -> int:
    """Minutes after midnight for 'HH:MM' (24:00 allowed as the end of a day)."""
    match = _CLOCK.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a time of day as HH:MM")
    minutes = int(match.group(1)) * 60 + int(match.group(2))
    if minutes > MINUTES_PER_DAY:
        raise ValueError(f"{text!r} is after 24:00")
    return minutes


def format_clock(minutes: int) -> str:
    """'HH:MM' for minutes after midnight."""
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def hours_on(day: str, start: str, end: str) -> BusinessHours:
    """Business hours from a weekday name ('mon'..'sun') and two 'HH:MM' times."""
    if day not in DAYS:
        raise ValueError(f"{day!r} is not one of {', '.join(DAYS)}")
    return BusinessHours(DAYS.index(day), parse_clock(start), parse_clock(end))


def _local_instant(day: date, minute: int, zone: ZoneInfo) -> datetime:
    local_day = day + timedelta(days=minute // MINUTES_PER_DAY)
    rest = minute % MINUTES_PER_DAY
    return datetime.combine(local_day, time(rest // 60, rest % 60), tzinfo=zone).astimezone(UTC)


def _day_intervals(calendar: Calendar, day: date) -> Iterator[tuple[datetime, datetime]]:
    if calendar.is_holiday(day):
        return
    zone = calendar.zone
    spans: list[tuple[int, int]] = []
    for hours in sorted(calendar.hours):
        if hours.weekday != day.weekday():
            continue
        if spans and hours.start_minute <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(spans[-1][1], hours.end_minute))
        else:
            spans.append((hours.start_minute, hours.end_minute))
    for lower, upper in spans:
        yield _local_instant(day, lower, zone), _local_instant(day, upper, zone)


def _utc(instant: datetime) -> datetime:
    if instant.tzinfo is None:
        raise ValueError("instants must be timezone-aware")
    return instant.astimezone(UTC)


def business_intervals(calendar: Calendar, start: datetime, end: datetime) -> Iterator[tuple[datetime, datetime]]:
    """The stretches of business time between two instants, in UTC and in order."""
    start, end = _utc(start), _utc(end)
    if end <= start:
        return
    zone = calendar.zone
    day = start.astimezone(zone).date() - timedelta(days=1)
    last = end.astimezone(zone).date() + timedelta(days=1)
    while day <= last:
        for opens, closes in _day_intervals(calendar, day):
            lower, upper = max(opens, start), min(closes, end)
            if lower < upper:
                yield lower, upper
        day += timedelta(days=1)


def business_seconds(calendar: Calendar, start: datetime, end: datetime) -> float:
    """Seconds of business time between two instants (0 when end is not after start)."""
    return sum((upper - lower).total_seconds() for lower, upper in business_intervals(calendar, start, end))


def is_business_time(calendar: Calendar, instant: datetime) -> bool:
    """Whether the instant falls inside business hours."""
    moment = _utc(instant)
    return any(True for _ in business_intervals(calendar, moment, moment + timedelta(microseconds=1)))


def add_business_seconds(calendar: Calendar, start: datetime, seconds: float) -> datetime:
    """The instant at which `seconds` of business time will have elapsed after `start`."""
    if seconds < 0:
        raise ValueError("seconds must not be negative")
    moment = _utc(start)
    remaining = timedelta(seconds=seconds)
    zone = calendar.zone
    day = moment.astimezone(zone).date() - timedelta(days=1)
    for _ in range(_SEARCH_DAYS):
        for opens, closes in _day_intervals(calendar, day):
            lower = max(opens, moment)
            if lower >= closes:
                continue
            if remaining == timedelta(0):
                return lower
            if lower + remaining <= closes:
                return lower + remaining
            remaining -= closes - lower
        day += timedelta(days=1)
    raise ValueError("the calendar has no business time left to reach the deadline")


def weekly_minutes(hours: Iterable[BusinessHours]) -> list[tuple[int, int]]:
    """Business hours as merged [start, end) minute ranges within a week starting Monday 00:00."""
    spans = sorted(
        (h.weekday * MINUTES_PER_DAY + h.start_minute, h.weekday * MINUTES_PER_DAY + h.end_minute) for h in hours
    )
    merged: list[tuple[int, int]] = []
    for lower, upper in spans:
        if merged and lower <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], upper))
        else:
            merged.append((lower, upper))
    return merged


def uncovered_weekly_minutes(offered: Calendar, wanted: Calendar) -> int:
    """Minutes per week that `wanted` needs covered and `offered` does not cover (both zones respected)."""
    reference = datetime(2024, 1, 15, tzinfo=UTC)  # a Monday, away from most daylight-saving changes
    week_start = datetime.combine(reference.astimezone(wanted.zone).date(), time(), tzinfo=wanted.zone)
    week_end = week_start + timedelta(days=7)
    needed = list(business_intervals(_without_holidays(wanted), week_start, week_end))
    given = list(business_intervals(_without_holidays(offered), week_start - timedelta(days=1), week_end))
    missing = timedelta(0)
    for lower, upper in needed:
        covered = timedelta(0)
        for opens, closes in given:
            overlap = min(upper, closes) - max(lower, opens)
            if overlap > timedelta(0):
                covered += overlap
        missing += (upper - lower) - covered
    return round(missing.total_seconds() / 60)


def _without_holidays(calendar: Calendar) -> Calendar:
    return Calendar(timezone=calendar.timezone, hours=calendar.hours)
