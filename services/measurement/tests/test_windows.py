"""Compliance windows and range splitting, without a database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from slm_measurement.domain.windows import (
    Bounds,
    WindowError,
    WindowSpec,
    parse_duration,
    split_range,
    validate_window,
    window_bounds,
)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_rolling_window_ends_at_the_current_minute() -> None:
    bounds = window_bounds(WindowSpec("rolling", duration="28d"), utc(2026, 3, 10, 12, 30, 45))
    assert bounds.end == utc(2026, 3, 10, 12, 31)
    assert bounds.start == utc(2026, 2, 10, 12, 31)
    assert parse_duration("12h") == timedelta(hours=12) and parse_duration("4w") == timedelta(days=28)


@pytest.mark.parametrize("bad", ["", "28", "0d", "28x", "-1d", "1.5d"])
def test_bad_durations_are_refused(bad: str) -> None:
    with pytest.raises(WindowError):
        parse_duration(bad)


def test_calendar_month_in_lisbon_across_the_spring_dst_change() -> None:
    march = WindowSpec("calendar", unit="month", timezone="Europe/Lisbon")
    bounds = window_bounds(march, utc(2026, 3, 29, 12))
    # 1 March is winter time (UTC+0); 1 April is summer time (UTC+1), so the month is 743 h long.
    assert bounds == Bounds(start=utc(2026, 3, 1), end=utc(2026, 3, 31, 23))
    assert bounds.end - bounds.start == timedelta(hours=31 * 24 - 1)


def test_calendar_month_in_lisbon_across_the_autumn_dst_change() -> None:
    bounds = window_bounds(WindowSpec("calendar", unit="month", timezone="Europe/Lisbon"), utc(2026, 10, 25, 3))
    assert bounds == Bounds(start=utc(2026, 9, 30, 23), end=utc(2026, 11, 1))
    assert bounds.end - bounds.start == timedelta(hours=31 * 24 + 1)


def test_calendar_month_uses_the_local_date_not_the_utc_date() -> None:
    # 31 March 23:30 UTC is already 1 April 00:30 in Lisbon.
    bounds = window_bounds(WindowSpec("calendar", unit="month", timezone="Europe/Lisbon"), utc(2026, 3, 31, 23, 30))
    assert bounds.start == utc(2026, 3, 31, 23)


def test_calendar_quarter_and_year_rollover() -> None:
    q4 = window_bounds(WindowSpec("calendar", unit="quarter", timezone="America/New_York"), utc(2026, 11, 15))
    assert q4 == Bounds(start=utc(2026, 10, 1, 4), end=utc(2027, 1, 1, 5))
    q1 = window_bounds(WindowSpec("calendar", unit="quarter"), utc(2026, 2, 1))
    assert q1 == Bounds(start=utc(2026, 1, 1), end=utc(2026, 4, 1))


def test_calendar_week_starts_on_monday_in_its_zone() -> None:
    # Sunday 2026-03-29 23:30 UTC is Monday 08:30 in Tokyo: a new week there.
    tokyo = window_bounds(WindowSpec("calendar", unit="week", timezone="Asia/Tokyo"), utc(2026, 3, 29, 23, 30))
    assert tokyo == Bounds(start=utc(2026, 3, 29, 15), end=utc(2026, 4, 5, 15))
    lisbon = window_bounds(WindowSpec("calendar", unit="week", timezone="Europe/Lisbon"), utc(2026, 3, 26))
    assert lisbon == Bounds(start=utc(2026, 3, 23), end=utc(2026, 3, 29, 23))


@pytest.mark.parametrize(
    "window",
    [
        WindowSpec("calendar", unit="year"),
        WindowSpec("calendar", unit="month", timezone="Mars/Olympus"),
        WindowSpec("sliding"),
    ],
)
def test_invalid_windows_are_refused(window: WindowSpec) -> None:
    with pytest.raises(WindowError):
        validate_window(window)


def _minutes(bounds: Bounds) -> int:
    sizes = {"minute": 1, "hour": 60, "day": 1440}
    return sum((s.stop - s.first) * sizes[s.granularity] for s in split_range(bounds))


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (utc(2026, 3, 1, 10, 17), utc(2026, 3, 29, 13, 42)),
        (utc(2026, 3, 1, 10, 17), utc(2026, 3, 1, 10, 18)),
        (utc(2026, 3, 1, 10, 17), utc(2026, 3, 1, 13, 5)),
        (utc(2026, 3, 1), utc(2026, 4, 1)),
        (utc(2026, 2, 28, 23, 59), utc(2026, 3, 2, 0, 1)),
    ],
)
def test_split_range_covers_the_window_exactly_once(start: datetime, end: datetime) -> None:
    bounds = Bounds(start, end)
    assert _minutes(bounds) == int((end - start).total_seconds() // 60)
    segments = split_range(bounds)
    assert sum(1 for s in segments if s.granularity == "minute") <= 2
    assert sum(1 for s in segments if s.granularity == "hour") <= 2


def test_split_range_cost_does_not_grow_with_the_window() -> None:
    month = split_range(Bounds(utc(2026, 1, 1, 0, 7), utc(2026, 1, 31, 22, 53)))
    year = split_range(Bounds(utc(2025, 1, 1, 0, 7), utc(2026, 1, 31, 22, 53)))
    assert len(month) == len(year) == 5
    assert [s.granularity for s in year] == ["minute", "hour", "day", "hour", "minute"]
