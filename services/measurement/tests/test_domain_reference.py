"""Reference cases worked by hand: windows, budgeting methods, burn-rate tiers, forecasts, maintenance."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from slm_measurement.domain import maintenance
from slm_measurement.domain.alerts import DEFAULT_POLICY, BurnTier, alert_changes, evaluate_policy
from slm_measurement.domain.budget import (
    RATIO_TIMESLICES,
    TIMESLICES,
    Tally,
    burn_rate,
    error_budget,
    slice_tally,
)
from slm_measurement.domain.forecast import forecast
from slm_measurement.domain.histogram import bin_of, count_at_or_below, histogram, quantile
from slm_measurement.domain.windows import Bounds, WindowSpec, lookback_bounds, window_bounds, window_length


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# --- windows: month ends, leap days, daylight saving -------------------------------------------


def test_february_of_a_leap_year_has_29_days_and_ends_at_midnight() -> None:
    feb = WindowSpec("calendar", unit="month")
    assert window_bounds(feb, utc(2028, 2, 29, 23, 59)) == Bounds(utc(2028, 2, 1), utc(2028, 3, 1))
    assert window_length(feb, utc(2028, 2, 10)) == timedelta(days=29)
    assert window_length(feb, utc(2026, 2, 10)) == timedelta(days=28)
    assert window_bounds(feb, utc(2028, 3, 1)).start == utc(2028, 3, 1)


def test_month_end_rolls_into_the_next_year() -> None:
    assert window_bounds(WindowSpec("calendar", unit="month"), utc(2026, 12, 31, 23, 59)) == Bounds(
        utc(2026, 12, 1), utc(2027, 1, 1)
    )


def test_rolling_window_across_a_leap_day_is_exact_elapsed_time() -> None:
    bounds = window_bounds(WindowSpec("rolling", duration="7d"), utc(2028, 3, 2, 12, 0, 30))
    assert bounds == Bounds(utc(2028, 2, 24, 12, 1), utc(2028, 3, 2, 12, 1))


def test_calendar_week_containing_a_dst_change_is_167_hours() -> None:
    week = WindowSpec("calendar", unit="week", timezone="America/New_York")
    # 8 March 2026 (Sunday) clocks go forward in New York; the ISO week Mon 2 - Mon 9 March.
    assert window_length(week, utc(2026, 3, 5)) == timedelta(hours=167)


def test_lookback_ends_with_the_current_minute() -> None:
    assert lookback_bounds(utc(2026, 1, 1, 10, 0, 30), timedelta(minutes=5)) == Bounds(
        utc(2026, 1, 1, 9, 56), utc(2026, 1, 1, 10, 1)
    )


# --- budgeting methods --------------------------------------------------------------------------

MINUTES = [(0, 99, 100), (1, 100, 100), (2, 90, 100), (3, 0, 0), (4, 1, 2), (5, 10, 10)]


def test_timeslices_count_good_slices_and_skip_empty_ones() -> None:
    # Minute slices: ratios .99, 1, .9, (none), .5, 1 -> with a .95 slice target 3 of 5 are good.
    assert slice_tally(MINUTES, slice_minutes=1, slice_target=0.95, method=TIMESLICES) == Tally(3, 5)
    # Two-minute slices: [0,1] 199/200 good, [2,3] 90/100 bad, [4,5] 11/12 = .9167 bad.
    assert slice_tally(MINUTES, slice_minutes=2, slice_target=0.95, method=TIMESLICES) == Tally(1, 3)


def test_ratio_timeslices_average_the_slice_ratios() -> None:
    tally = slice_tally(MINUTES, slice_minutes=1, slice_target=0.95, method=RATIO_TIMESLICES)
    assert tally.total == 5 and tally.good == pytest.approx(0.99 + 1 + 0.9 + 0.5 + 1)
    assert tally.good / tally.total == pytest.approx(0.878)


def test_occurrence_budget_and_burn_rate() -> None:
    # 99.9% over 1,000,000 events allows 1,000 bad; 250 bad used a quarter of it.
    budget = error_budget(999_750 / 1_000_000, 0.999)
    assert budget.total == pytest.approx(0.001) and budget.remaining_ratio == pytest.approx(0.75)
    # 36 bad of 1,000 in an hour against a 0.1% budget burns at 36x.
    assert burn_rate(Tally(964, 1000), 0.999) == pytest.approx(36.0)
    assert burn_rate(Tally(0, 0), 0.999) is None
    assert burn_rate(Tally(99, 100), 0.95) == pytest.approx(0.2)  # 1% bad of a 5% budget


# --- burn-rate tiers ----------------------------------------------------------------------------


def test_workbook_factors_derive_from_budget_share_window_and_period() -> None:
    factors = [tier.factor(timedelta(days=30)) for tier in DEFAULT_POLICY]
    assert factors == pytest.approx([14.4, 6.0, 1.0])
    # A 28-day period asks less per hour: 2% of a 28 d budget in 1 h is 13.44x.
    assert DEFAULT_POLICY[0].factor(timedelta(days=28)) == pytest.approx(13.44)
    custom = BurnTier("fast", "page", 0.05, timedelta(hours=2), timedelta(minutes=10))
    assert custom.factor(timedelta(days=7)) == pytest.approx(4.2)


def test_a_tier_fires_only_when_both_windows_burn_past_its_factor() -> None:
    hour, five, six, thirty = timedelta(hours=1), timedelta(minutes=5), timedelta(hours=6), timedelta(minutes=30)
    rates = {hour: 15.0, five: 20.0, six: 5.0, thirty: 8.0, timedelta(days=3): 1.2}
    states = evaluate_policy(DEFAULT_POLICY, period=timedelta(days=30), burn_rates=rates)
    # page-1h: 15 and 20 >= 14.4; page-6h: 5 < 6; ticket-3d: 1.2 and 5 >= 1
    assert [s.firing for s in states] == [True, False, True]
    rates[timedelta(days=3)] = 0.9
    assert not evaluate_policy(DEFAULT_POLICY, period=timedelta(days=30), burn_rates=rates)[2].firing
    rates[five] = 3.0  # the spike is over: the short window resets the page quickly
    assert not evaluate_policy(DEFAULT_POLICY, period=timedelta(days=30), burn_rates=rates)[0].firing


def test_alert_changes_report_start_and_end_once() -> None:
    hour, five = timedelta(hours=1), timedelta(minutes=5)
    firing = evaluate_policy(DEFAULT_POLICY[:1], period=timedelta(days=30), burn_rates={hour: 20.0, five: 20.0})
    changes, memory = alert_changes(firing, set())
    assert [(c.state.tier.name, c.firing) for c in changes] == [("page-1h", True)]
    assert alert_changes(firing, memory)[0] == []
    quiet = evaluate_policy(DEFAULT_POLICY[:1], period=timedelta(days=30), burn_rates={hour: 20.0, five: 1.0})
    changes, memory = alert_changes(quiet, memory)
    assert [(c.state.tier.name, c.firing) for c in changes] == [("page-1h", False)] and memory == set()


# --- forecasts ----------------------------------------------------------------------------------


def test_calendar_forecast_projects_the_current_burn_to_the_window_end() -> None:
    # 30-day window, 10 days gone: 9,995 good of 10,000 (0.05% bad, target 99.9%).
    # Last day: 1,000 events per day, 1% bad. 20 more days: 20,000 events, 200 bad.
    # End: 205 bad of 30,000 -> 99.3167%, a miss; budget 0.1% of events.
    # Exhaustion: 5 + 10x = 0.001 (10,000 + 1,000x) -> x = 5 / 9 days.
    result = forecast(
        rolling=False,
        now=utc(2026, 4, 11),
        window_start=utc(2026, 4, 1),
        window_end=utc(2026, 5, 1),
        window=Tally(9_995, 10_000),
        recent=Tally(990, 1_000),
        lookback=timedelta(days=1),
        target=0.999,
    )
    assert result.expected_attainment == pytest.approx(1 - 205 / 30_000)
    assert result.misses_target and result.horizon_end == utc(2026, 5, 1)
    assert result.budget_exhausted_at == utc(2026, 4, 11) + timedelta(days=5 / 9)


def test_calendar_forecast_on_budget_does_not_exhaust() -> None:
    result = forecast(
        rolling=False,
        now=utc(2026, 4, 11),
        window_start=utc(2026, 4, 1),
        window_end=utc(2026, 5, 1),
        window=Tally(9_995, 10_000),
        recent=Tally(9_995, 10_000),
        lookback=timedelta(days=1),
        target=0.999,
    )
    assert not result.misses_target and result.budget_exhausted_at is None
    assert result.expected_attainment == pytest.approx(0.9995)


def test_rolling_forecast_turns_the_window_over_at_the_current_burn() -> None:
    # 7-day rolling window at 0.05% bad (target 99.9%) with 1,000 events/day; the last day runs at 0.3% bad.
    # After one window the window is all new data: 99.7%. Budget: headroom 0.001*7000 - 3.5 = 3.5 events;
    # speed = bad_rate - budget*rate + headroom/W = 3 - 1 + 0.5 = 2.5 per day -> 1.4 days.
    result = forecast(
        rolling=True,
        now=utc(2026, 4, 11),
        window_start=utc(2026, 4, 4),
        window_end=utc(2026, 4, 11),
        window=Tally(6_996.5, 7_000),
        recent=Tally(997, 1_000),
        lookback=timedelta(days=1),
        target=0.999,
    )
    assert result.expected_attainment == pytest.approx(0.997) and result.misses_target
    assert result.budget_exhausted_at == utc(2026, 4, 11) + timedelta(days=1.4)
    assert result.horizon_end == utc(2026, 4, 18)


def test_overspent_budget_is_exhausted_now() -> None:
    result = forecast(
        rolling=False,
        now=utc(2026, 4, 11),
        window_start=utc(2026, 4, 1),
        window_end=utc(2026, 5, 1),
        window=Tally(900, 1_000),
        recent=Tally(0, 0),
        lookback=timedelta(hours=1),
        target=0.99,
    )
    assert result.budget_exhausted_at == utc(2026, 4, 11) and result.expected_attainment == pytest.approx(0.9)


# --- maintenance windows -------------------------------------------------------------------------


def test_recurring_maintenance_follows_local_time_across_dst() -> None:
    # Sundays 01:30-03:00 Lisbon time. Before 29 March that is 01:30 UTC; after, 00:30 UTC.
    sunday = maintenance.MaintenanceWindow(
        start=datetime(2026, 3, 22, 1, 30, tzinfo=UTC),
        rrule="FREQ=WEEKLY;BYDAY=SU",
        duration_minutes=90,
        timezone="Europe/Lisbon",
    )
    maintenance.validate(sunday)
    found = maintenance.excluded_intervals([sunday], Bounds(utc(2026, 3, 20), utc(2026, 4, 6)))
    assert found == [
        Bounds(utc(2026, 3, 22, 1, 30), utc(2026, 3, 22, 3)),
        Bounds(utc(2026, 3, 29, 1, 30), utc(2026, 3, 29, 3)),  # 01:30 does not exist that night: 02:30 WEST
        Bounds(utc(2026, 4, 5, 0, 30), utc(2026, 4, 5, 2)),
    ]


def test_one_off_windows_are_clipped_merged_and_rounded_out_to_minutes() -> None:
    windows = [
        maintenance.MaintenanceWindow(start=utc(2026, 1, 1, 9, 0, 30), end=utc(2026, 1, 1, 10)),
        maintenance.MaintenanceWindow(start=utc(2026, 1, 1, 9, 50), end=utc(2026, 1, 1, 10, 10, 5)),
    ]
    found = maintenance.excluded_intervals(windows, Bounds(utc(2026, 1, 1, 9, 30), utc(2026, 1, 2)))
    assert found == [Bounds(utc(2026, 1, 1, 9, 30), utc(2026, 1, 1, 10, 11))]
    assert len(maintenance.minutes_in(found)) == 41


@pytest.mark.parametrize(
    "window",
    [
        maintenance.MaintenanceWindow(start=utc(2026, 1, 1), rrule="FREQ=WEEKLY"),
        maintenance.MaintenanceWindow(start=utc(2026, 1, 1), rrule="FREQ=NEVER", duration_minutes=5),
        maintenance.MaintenanceWindow(start=utc(2026, 1, 1), end=utc(2025, 1, 1)),
    ],
)
def test_invalid_maintenance_windows_are_refused(window: maintenance.MaintenanceWindow) -> None:
    with pytest.raises(ValueError):
        maintenance.validate(window)


# --- histograms ---------------------------------------------------------------------------------


def test_histogram_answers_thresholds_and_percentiles_within_a_bin() -> None:
    latencies = [float(v) for v in range(1, 1001)]  # 1 .. 1000 ms
    bins = histogram(latencies)
    assert len(bins) < 400  # compact: far fewer bins than values
    assert count_at_or_below(bins, 300) == pytest.approx(300, rel=0.02)
    assert quantile(bins, 0.5) == pytest.approx(500, rel=0.02)
    assert quantile(bins, 0.99) == pytest.approx(990, rel=0.02)
    assert bin_of(0) == bin_of(1e-9) and quantile({}, 0.5) is None
