"""The working of a read-only evaluation, shaped for the API (no database)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal, localcontext
from zoneinfo import ZoneInfo

from slm_measurement.domain.budget import Tally
from slm_measurement.domain.windows import MINUTE, Bounds, zone
from slm_measurement.evaluator import WINDOW, format_duration
from slm_measurement.figures import SIGNIFICANT, exact, shown
from slm_measurement.models import Objective
from slm_measurement.versioned import SegmentTally
from slm_measurement.working import Evaluated
from slm_measurement.working_schemas import (
    BudgetWorking,
    BurnWindow,
    Interval,
    TierWorking,
    VersionSegment,
    WindowWorking,
    Working,
)

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


def _ratio(numerator: Decimal, denominator: Decimal) -> float | None:
    if denominator == 0:
        return None
    with localcontext() as context:
        context.prec = SIGNIFICANT
        return float(numerator / denominator)


def budget_working(window: Tally, target: float) -> BudgetWorking:
    """allowed, consumed and remaining bad events (or slices) of the window, in decimal arithmetic."""
    total, good, share = exact(window.total), exact(window.good), exact(target)
    allowed = (1 - share) * total
    consumed = total - good
    return BudgetWorking(
        target=target,
        total=window.total,
        good=window.good,
        allowed=shown(allowed),
        consumed=shown(consumed),
        remaining=shown(allowed - consumed),
        remaining_ratio=_ratio(allowed - consumed, allowed) if allowed > 0 else None,
    )


def segmented_budget(window: Tally, segments: list[SegmentTally]) -> BudgetWorking:
    """The budget of a window cut by version: allowed = sum of (1 - target_v) x total_v, in decimal arithmetic."""
    total, good = exact(window.total), exact(window.good)
    allowed = sum(((1 - exact(s.target)) * exact(s.tally.total) for s in segments), Decimal(0))
    consumed = total - good
    return BudgetWorking(
        formula="allowed = sum over versions of (1 - target_v) x total_v; consumed = total - good; "
        "remaining = allowed - consumed; target = 1 - allowed / total",
        target=shown(1 - allowed / total) if total > 0 else segments[-1].target,
        total=window.total,
        good=window.good,
        allowed=shown(allowed),
        consumed=shown(consumed),
        remaining=shown(allowed - consumed),
        remaining_ratio=_ratio(allowed - consumed, allowed) if allowed > 0 else None,
    )


def version_segments(segments: list[SegmentTally], tz: ZoneInfo) -> list[VersionSegment]:
    return [
        VersionSegment(
            agreement_version=s.version,
            op=s.op,
            value=s.value,
            target=s.target,
            timeslice_target=s.timeslice_target,
            in_force=[_interval(b, tz) for b in s.bounds],
            good=s.tally.good,
            total=s.tally.total,
            allowed=shown((1 - exact(s.target)) * exact(s.tally.total)),
        )
        for s in segments
    ]


def exact_burn_rate(tally: Tally, target: float) -> float | None:
    """(1 - good / total) / (1 - target) as (total - good) / ((1 - target) x total), in decimal arithmetic."""
    total, good, share = exact(tally.total), exact(tally.good), exact(target)
    if total <= 0 or share >= 1:
        return None
    return _ratio(total - good, (1 - share) * total)


def exact_factor(budget_share: float, period: timedelta, long_window: timedelta) -> float:
    """budget_share x window length / long window length, in decimal arithmetic."""
    seconds = Decimal(int(period.total_seconds())), Decimal(int(long_window.total_seconds()))
    return shown(exact(budget_share) * seconds[0] / seconds[1])


def _burn_window(
    evaluated: Evaluated, length_label: str, targets: dict[str, float], target: float, tz: ZoneInfo
) -> BurnWindow:
    target = targets.get(length_label, target)
    bounds = evaluated.planned.ranges[length_label]
    tally = evaluated.tallies[length_label]
    return BurnWindow(
        **_interval_fields(bounds, tz),
        length=length_label,
        good=tally.good,
        total=tally.total,
        burn_rate=exact_burn_rate(tally, target),
    )


def working_of(objective: Objective, evaluated: Evaluated, *, period: bool) -> Working:
    """Every figure of the evaluation with the bounds and counts behind it."""
    objective = evaluated.objective
    tz = zone(objective.window_timezone)
    found, planned = evaluated.found, evaluated.planned
    segments = evaluated.read.segments if evaluated.read is not None else None
    targets = (evaluated.read.targets if evaluated.read is not None else None) or {}
    tiers = [
        TierWorking(
            name=state.tier.name,
            severity=state.tier.severity,
            budget_share=state.tier.budget_share,
            factor=exact_factor(state.tier.budget_share, found.bounds.end - found.bounds.start, state.tier.long_window),
            long=_burn_window(evaluated, format_duration(state.tier.long_window), targets, objective.target, tz),
            short=_burn_window(evaluated, format_duration(state.tier.short_window), targets, objective.target, tz),
            firing=state.firing,
        )
        for state in found.alerts
    ]
    counted = planned.ranges[WINDOW]
    in_force = planned.counted[WINDOW] if planned.counted is not None else [counted]
    return Working(
        id=objective.objective_id,
        as_of=evaluated.as_of,
        agreement_version=objective.agreement_version,
        unit="events" if objective.budgeting_method == "occurrences" else "slices",
        budgeting_method=objective.budgeting_method,
        window=WindowWorking(
            **_interval_fields(found.bounds, tz),
            kind="period" if period else objective.window_kind,
            timezone=objective.window_timezone,
            counted_until_utc=counted.end,
            in_force=[_interval(b, tz) for b in in_force],
        ),
        good=found.window.good,
        total=found.window.total,
        attainment=_ratio(exact(found.window.good), exact(found.window.total)),
        status=found.verdict,
        excluded=[_interval(b, tz) for b in planned.excluded[:MAX_LISTED_INTERVALS]],
        excluded_truncated=len(planned.excluded) > MAX_LISTED_INTERVALS,
        excluded_minutes=found.excluded_minutes,
        budget=segmented_budget(found.window, segments[WINDOW])
        if segments is not None
        else budget_working(found.window, objective.target),
        tiers=tiers,
        versions=version_segments(segments[WINDOW], tz) if segments is not None else None,
    )
