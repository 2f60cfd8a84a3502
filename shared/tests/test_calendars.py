"""Business time across midnight, weekends, holidays and daylight-saving changes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from slm_shared.calendars import (
    ALWAYS,
    BusinessHours,
    Calendar,
    add_business_seconds,
    business_seconds,
    hours_on,
    is_business_time,
    uncovered_weekly_minutes,
)

HOUR = 3600.0
LISBON = ZoneInfo("Europe/Lisbon")
OFFICE = Calendar(
    timezone="Europe/Lisbon",
    hours=tuple(hours_on(day, "09:00", "17:00") for day in ("mon", "tue", "wed", "thu", "fri")),
)


def at(*parts: int, zone: ZoneInfo = LISBON) -> datetime:
    return datetime(*parts, tzinfo=zone)  # type: ignore[misc]


def test_office_hours_within_one_day() -> None:
    assert business_seconds(OFFICE, at(2025, 1, 6, 8), at(2025, 1, 6, 12)) == 3 * HOUR
    assert business_seconds(OFFICE, at(2025, 1, 6, 12), at(2025, 1, 6, 8)) == 0


def test_across_midnight_counts_both_days() -> None:
    night = Calendar(timezone="UTC", hours=(hours_on("mon", "22:00", "24:00"), hours_on("tue", "00:00", "06:00")))
    start = datetime(2025, 1, 6, 23, tzinfo=UTC)
    assert business_seconds(night, start, datetime(2025, 1, 7, 2, tzinfo=UTC)) == 3 * HOUR
    assert add_business_seconds(night, start, 2 * HOUR) == datetime(2025, 1, 7, 1, tzinfo=UTC)


def test_weekend_is_skipped() -> None:
    friday_afternoon = at(2025, 1, 10, 16)
    assert business_seconds(OFFICE, friday_afternoon, at(2025, 1, 13, 10)) == 2 * HOUR
    assert add_business_seconds(OFFICE, friday_afternoon, 2 * HOUR) == at(2025, 1, 13, 10)
    assert not is_business_time(OFFICE, at(2025, 1, 11, 12))
    assert is_business_time(OFFICE, at(2025, 1, 13, 9))


def test_explicit_holiday_is_skipped() -> None:
    closed = Calendar(timezone="Europe/Lisbon", hours=OFFICE.hours, holidays=frozenset({date(2025, 1, 7)}))
    assert business_seconds(closed, at(2025, 1, 6, 9), at(2025, 1, 8, 17)) == 16 * HOUR
    assert add_business_seconds(closed, at(2025, 1, 6, 16), 2 * HOUR) == at(2025, 1, 8, 10)


def test_public_holidays_of_a_country() -> None:
    portugal = Calendar(timezone="Europe/Lisbon", hours=OFFICE.hours, country="PT")
    # 25 April (Freedom Day) 2025 is a Friday.
    assert business_seconds(portugal, at(2025, 4, 24, 9), at(2025, 4, 28, 17)) == 16 * HOUR
    assert business_seconds(OFFICE, at(2025, 4, 24, 9), at(2025, 4, 28, 17)) == 24 * HOUR
    with pytest.raises(ValueError, match="no public holidays"):
        Calendar(country="XX")


def test_spring_forward_day_is_23_hours() -> None:
    # Europe/Lisbon moves from 01:00 to 02:00 on 30 March 2025.
    assert business_seconds(ALWAYS_LISBON, at(2025, 3, 30), at(2025, 3, 31)) == 23 * HOUR
    early = Calendar(timezone="Europe/Lisbon", hours=(hours_on("sun", "00:00", "03:00"),))
    assert business_seconds(early, at(2025, 3, 30), at(2025, 3, 31)) == 2 * HOUR
    assert add_business_seconds(early, at(2025, 3, 30), 1.5 * HOUR) == at(2025, 3, 30, 2, 30)


def test_fall_back_day_is_25_hours() -> None:
    # Europe/Lisbon moves from 02:00 back to 01:00 on 26 October 2025.
    assert business_seconds(ALWAYS_LISBON, at(2025, 10, 26), at(2025, 10, 27)) == 25 * HOUR
    early = Calendar(timezone="Europe/Lisbon", hours=(hours_on("sun", "00:00", "03:00"),))
    assert business_seconds(early, at(2025, 10, 26), at(2025, 10, 27)) == 4 * HOUR
    deadline = add_business_seconds(early, at(2025, 10, 26), 2.5 * HOUR)
    assert deadline == datetime(2025, 10, 26, 1, 30, tzinfo=UTC)


def test_new_york_office_across_its_own_dst_change() -> None:
    new_york = Calendar(
        timezone="America/New_York", hours=tuple(BusinessHours(day, 9 * 60, 17 * 60) for day in range(5))
    )
    friday = datetime(2025, 3, 7, 16, tzinfo=ZoneInfo("America/New_York"))
    deadline = add_business_seconds(new_york, friday, 2 * HOUR)
    assert deadline == datetime(2025, 3, 10, 10, tzinfo=ZoneInfo("America/New_York"))
    assert deadline.astimezone(UTC).hour == 14  # EDT after the change, EST before it


def test_add_is_the_inverse_of_count() -> None:
    start = at(2025, 3, 27, 11, 17)
    for hours in (0.5, 7, 8, 23, 40, 100):
        end = add_business_seconds(OFFICE, start, hours * HOUR)
        assert business_seconds(OFFICE, start, end) == pytest.approx(hours * HOUR)
    assert add_business_seconds(OFFICE, at(2025, 1, 11, 12), 0) == at(2025, 1, 13, 9)


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError):
        Calendar(timezone="Mars/Olympus")
    with pytest.raises(ValueError):
        hours_on("mon", "18:00", "09:00")
    with pytest.raises(ValueError):
        hours_on("funday", "09:00", "10:00")
    with pytest.raises(ValueError):
        business_seconds(OFFICE, datetime(2025, 1, 6), datetime(2025, 1, 7))
    with pytest.raises(ValueError, match="no business time"):
        add_business_seconds(Calendar(), datetime(2025, 1, 6, tzinfo=UTC), 1)


def test_weekly_coverage_gap_respects_time_zones() -> None:
    london_office = Calendar(
        timezone="Europe/London",
        hours=tuple(hours_on(d, "09:00", "17:00") for d in ("mon", "tue", "wed", "thu", "fri")),
    )
    assert uncovered_weekly_minutes(ALWAYS, london_office) == 0
    assert uncovered_weekly_minutes(OFFICE, london_office) == 0  # Lisbon and London share winter time
    berlin = Calendar(timezone="Europe/Berlin", hours=OFFICE.hours)
    assert uncovered_weekly_minutes(berlin, london_office) == 5 * 60
    assert uncovered_weekly_minutes(london_office, ALWAYS) == (7 * 24 - 40) * 60


ALWAYS_LISBON = Calendar(timezone="Europe/Lisbon", hours=ALWAYS.hours)


def test_always_counts_every_second() -> None:
    start = datetime(2025, 1, 1, tzinfo=UTC)
    assert business_seconds(ALWAYS, start, start + timedelta(days=3)) == 72 * HOUR
