"""Ticket clocks worked by hand: nights, weekends, holidays, daylight saving, pauses, reopenings, thresholds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from slm_measurement.tickets import clocks
from slm_measurement.tickets.clocks import TicketEvent as E

WEEKDAYS = [{"day": d, "start": "09:00", "end": "17:00"} for d in ("mon", "tue", "wed", "thu", "fri")]
ALL_DAYS = [{"day": d, "start": "00:00", "end": "24:00"} for d in clocks.calendars.DAYS]
OFFICE_UTC = {"timezone": "UTC", "hours": WEEKDAYS}
OFFICE_LISBON = {**OFFICE_UTC, "timezone": "Europe/Lisbon", "holidays": ["2026-04-03"]}
ALWAYS_LISBON = {"timezone": "Europe/Lisbon", "hours": ALL_DAYS}
WARN = (0.5, 0.75)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def resolution(events: list[E], calendar: dict, goal: int, now: datetime) -> clocks.ClockView:
    life = clocks.lifecycle(events)
    return clocks.view("resolution", life.clocks["resolution"], clocks.calendar_of(calendar), goal, now, WARN)


def test_a_friday_evening_ticket_counts_friday_hour_then_monday_morning() -> None:
    opened = [E(utc(2026, 3, 6, 16), "opened", priority="P2")]  # Friday 16:00, 4 h goal
    clock = resolution(opened, OFFICE_UTC, 4 * 3600, now=utc(2026, 3, 7, 12))
    assert clock.elapsed_seconds == 3600 and clock.remaining_seconds == 3 * 3600 and clock.state == "running"
    assert clock.breach_at == utc(2026, 3, 9, 12)  # 1 h Friday + 3 h Monday
    assert clock.thresholds[0.5] == utc(2026, 3, 9, 10) and clock.thresholds[0.75] == utc(2026, 3, 9, 11)


def test_thresholds_fall_at_their_exact_instants_once_each() -> None:
    opened = [E(utc(2026, 3, 6, 16), "opened", priority="P2")]
    before = resolution(opened, OFFICE_UTC, 4 * 3600, now=utc(2026, 3, 9, 9, 59, 59))
    assert clocks.to_fire(before, set(), before.thresholds[0.5] - timedelta(seconds=1)) == ([], [])
    assert clocks.next_due(before, set(), utc(2026, 3, 9, 9, 59, 59)) == utc(2026, 3, 9, 10)
    at_half = resolution(opened, OFFICE_UTC, 4 * 3600, now=utc(2026, 3, 9, 10))
    assert clocks.to_fire(at_half, set(), utc(2026, 3, 9, 10)) == ([0.5], [])
    assert clocks.to_fire(at_half, {0.5}, utc(2026, 3, 9, 10)) == ([], [])
    assert clocks.next_due(at_half, {0.5}, utc(2026, 3, 9, 10)) == utc(2026, 3, 9, 11)
    at_goal = resolution(opened, OFFICE_UTC, 4 * 3600, now=utc(2026, 3, 9, 12))
    assert at_goal.state == "breached" and clocks.to_fire(at_goal, {0.5, 0.75}, utc(2026, 3, 9, 12)) == ([1.0], [])
    late = resolution(opened, OFFICE_UTC, 4 * 3600, now=utc(2026, 3, 9, 13))
    assert clocks.to_fire(late, set(), utc(2026, 3, 9, 13)) == ([1.0], [0.5, 0.75])  # warnings overtaken


def test_a_holiday_counts_nothing_in_the_calendars_zone() -> None:
    opened = [E(utc(2026, 4, 2, 15), "opened", priority="P3")]  # Thursday 16:00 Lisbon (UTC+1)
    clock = resolution(opened, OFFICE_LISBON, 3 * 3600, now=utc(2026, 4, 3, 12))
    assert clock.elapsed_seconds == 3600  # Thursday 16:00-17:00, Good Friday counts nothing
    assert clock.breach_at == utc(2026, 4, 6, 10)  # Monday 11:00 Lisbon


def test_daylight_saving_counts_real_time_not_the_wall_clock() -> None:
    opened = [E(utc(2026, 3, 28, 23), "opened", priority="P1")]  # 23:00 Lisbon, clocks go forward at 01:00
    clock = resolution(opened, ALWAYS_LISBON, 4 * 3600, now=utc(2026, 3, 29, 1))
    assert clock.elapsed_seconds == 2 * 3600
    assert clock.breach_at == utc(2026, 3, 29, 3)  # 04:00 local: four real hours, not 03:00 local


def test_pauses_stop_both_clocks_and_a_reopen_resumes_from_elapsed() -> None:
    events = [
        E(utc(2026, 3, 2, 10), "opened", priority="P2"),
        E(utc(2026, 3, 2, 11), "state_changed", state="awaiting_customer"),
        E(utc(2026, 3, 2, 13), "state_changed", state="in_progress"),
        E(utc(2026, 3, 2, 13, 30), "responded"),
        E(utc(2026, 3, 2, 14), "resolved"),
        E(utc(2026, 3, 2, 16), "reopened"),
        E(utc(2026, 3, 2, 16, 30), "resolved"),
    ]
    always = {"timezone": "UTC", "hours": [{"day": d, "start": "00:00", "end": "24:00"} for d in clocks.calendars.DAYS]}
    life = clocks.lifecycle(events)
    response = clocks.view("response", life.clocks["response"], clocks.calendar_of(always), 7200, utc(2026, 3, 3), WARN)
    assert response.elapsed_seconds == 5400 and response.state == "met"  # 10-11 and 13:00-13:30
    done = resolution(events, always, 3 * 3600, now=utc(2026, 3, 3))
    assert done.elapsed_seconds == 9000 and done.state == "met" and done.breach_at is None
    assert clocks.crossed(done, utc(2026, 3, 3)) == [0.5, 0.75]  # it passed 1.5 h and 2.25 h while running
    paused = resolution(events[:2], always, 3 * 3600, now=utc(2026, 3, 2, 12))
    assert (
        paused.state == "paused"
        and paused.elapsed_seconds == 3600
        and clocks.next_due(paused, set(), utc(2026, 3, 2, 12)) is None
    )
    reopened = resolution(events[:6], always, 3 * 3600, now=utc(2026, 3, 2, 17))
    assert reopened.elapsed_seconds == 3 * 3600 and reopened.state == "breached"
    assert reopened.breach_at == utc(2026, 3, 2, 17)  # 2 h before the reopen + 1 h after it


def test_stopping_exactly_at_the_goal_is_met_and_cancelled_clocks_report_nothing() -> None:
    always = {"timezone": "UTC", "hours": [{"day": d, "start": "00:00", "end": "24:00"} for d in clocks.calendars.DAYS]}
    exact = [E(utc(2026, 3, 2, 10), "opened", priority="P1"), E(utc(2026, 3, 2, 11), "resolved")]
    clock = resolution(exact, always, 3600, now=utc(2026, 3, 2, 12))
    assert clock.state == "met" and clocks.to_fire(clock, set(), utc(2026, 3, 2, 12)) == ([0.5, 0.75], [])
    cancelled = [E(utc(2026, 3, 2, 10), "opened", priority="P1"), E(utc(2026, 3, 2, 10, 10), "cancelled")]
    gone = resolution(cancelled, always, 600, now=utc(2026, 3, 2, 12))
    assert gone.state == "cancelled" and clocks.to_fire(gone, set(), utc(2026, 3, 2, 12)) == ([], [])
