"""The working of a read-only evaluation, shaped for the API (no database)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from slm_measurement.domain.budget import Tally, budget_total, burn_rate
from slm_measurement.domain.windows import MINUTE, Bounds, zone
from slm_measurement.evaluator import WINDOW, format_duration
from slm_measurement.models import Objective
from slm_measurement.working import Evaluated
from slm_measurement.working_schemas import BudgetWorking, BurnWindow, Interval, TierWorking, WindowWorking, Working

MAX_LISTED_INTERVALS = 1000


def _interval(bounds: Bounds, tz: ZoneInfo) -> Interval:
    return Interval(**_interval_fields(bounds, tz))


def _interval_fields(bounds: Bounds, tz: ZoneInfo) -> dict[str, object]:
    return {
        "start": bounds.start.astimezone(tz),
        "end": bounds.end.astimezone(tz),
        "start_utc": bounds.start,
        "end_utc": bounds.end,
        "minutes": int((bounds.end - bounds.start).total_seconds()) // MINUTE,
    }


def budget_working(window: Tally, target: float) -> BudgetWorking:
    """allowed, consumed and remaining bad events (or slices) of the window."""
    allowed = budget_total(target) * window.total
    consumed = window.total - window.good
    return BudgetWorking(
        target=target,
        total=window.total,
        good=window.good,
        allowed=allowed,
        consumed=consumed,
        remaining=allowed - consumed,
        remaining_ratio=(allowed - consumed) / allowed if allowed > 0 else None,
    )


def _burn_window(evaluated: Evaluated, length_label: str, target: float, tz: ZoneInfo) -> BurnWindow:
    bounds = evaluated.planned.ranges[length_label]
    tally = evaluated.tallies[length_label]
    return BurnWindow(
        **_interval_fields(bounds, tz),
        length=length_label,
        good=tally.good,
        total=tally.total,
        burn_rate=burn_rate(tally, target),
    )


def working_of(objective: Objective, evaluated: Evaluated, *, period: bool) -> Working:
    """Every figure of the evaluation with the bounds and counts behind it."""
    tz = zone(objective.window_timezone)
    found, planned = evaluated.found, evaluated.planned
    tiers = [
        TierWorking(
            name=state.tier.name,
            severity=state.tier.severity,
            budget_share=state.tier.budget_share,
            factor=state.factor,
            long=_burn_window(evaluated, format_duration(state.tier.long_window), objective.target, tz),
            short=_burn_window(evaluated, format_duration(state.tier.short_window), objective.target, tz),
            firing=state.firing,
        )
        for state in found.alerts
    ]
    counted = planned.ranges[WINDOW]
    return Working(
        id=objective.objective_id,
        as_of=evaluated.as_of,
        unit="events" if objective.budgeting_method == "occurrences" else "slices",
        budgeting_method=objective.budgeting_method,
        window=WindowWorking(
            **_interval_fields(found.bounds, tz),
            kind="period" if period else objective.window_kind,  # type: ignore[arg-type]
            timezone=objective.window_timezone,
            counted_until_utc=counted.end,
        ),
        good=found.window.good,
        total=found.window.total,
        attainment=found.attainment,
        status=found.verdict,  # type: ignore[arg-type]
        excluded=[_interval(b, tz) for b in planned.excluded[:MAX_LISTED_INTERVALS]],
        excluded_truncated=len(planned.excluded) > MAX_LISTED_INTERVALS,
        excluded_minutes=found.excluded_minutes,
        budget=budget_working(found.window, objective.target),
        tiers=tiers,
    )
