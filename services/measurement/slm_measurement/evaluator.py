"""One objective's evaluation: tallies read from the rollups, then the pure maths of the domain."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from slm_measurement import buckets, repository
from slm_measurement.domain import maintenance
from slm_measurement.domain.alerts import DEFAULT_POLICY, BurnTier, TierState, evaluate_policy, lookbacks
from slm_measurement.domain.budget import (
    OCCURRENCES,
    ErrorBudget,
    Tally,
    attainment,
    burn_rate,
    error_budget,
    meets,
    slice_tally,
)
from slm_measurement.domain.forecast import Forecast, forecast
from slm_measurement.domain.histogram import bin_of
from slm_measurement.domain.status import verdict
from slm_measurement.domain.windows import (
    DAY,
    MINUTE,
    Bounds,
    WindowSpec,
    clip,
    lookback_bounds,
    parse_duration,
    window_bounds,
)
from slm_measurement.models import Objective, SliceTally
from slm_measurement.tickets import compliance as ticket_compliance

DEFAULT_FORECAST_LOOKBACKS = ("1h", "24h")
WINDOW = "window"
TICKET_TIME = "ticket_time"


def format_duration(length: timedelta) -> str:
    """'5m', '6h', '3d' (or seconds for odd lengths)."""
    seconds = int(length.total_seconds())
    for unit, size in (("d", DAY), ("h", 3600), ("m", MINUTE)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def window_of(objective: Objective) -> WindowSpec:
    return WindowSpec(
        objective.window_kind, objective.window_duration, objective.window_unit, objective.window_timezone
    )


def policy_of(objective: Objective) -> tuple[BurnTier, ...]:
    """The objective's burn-rate tiers: its own, or the SRE workbook's default."""
    if not objective.alert_policy:
        return DEFAULT_POLICY
    return tuple(
        BurnTier(
            name=tier["name"],
            severity=tier["severity"],
            budget_share=float(tier["budget_share"]),
            long_window=parse_duration(tier["long_window"]),
            short_window=parse_duration(tier["short_window"]),
        )
        for tier in objective.alert_policy
    )


def maintenance_of(objective: Objective) -> list[maintenance.MaintenanceWindow]:
    return [
        maintenance.MaintenanceWindow(
            start=datetime.fromisoformat(w["start"]),
            end=datetime.fromisoformat(w["end"]) if w.get("end") else None,
            rrule=w.get("rrule"),
            duration_minutes=w.get("duration_minutes"),
            timezone=w.get("timezone") or "UTC",
        )
        for w in objective.maintenance_windows
    ]


@dataclass
class Measurement:
    """Everything one evaluation found."""

    bounds: Bounds
    window: Tally
    attainment: float | None
    budget: ErrorBudget
    burn_rates: dict[timedelta, float | None]
    alerts: list[TierState]
    forecasts: list[Forecast]
    verdict: str
    excluded_minutes: int = 0
    details: dict[str, Any] = field(default_factory=dict)


class _SliceReader:
    """Timeslice tallies: complete UTC days from the per-objective cache, the rest from minutes."""

    def __init__(self, session: AsyncSession, objective: Objective, now_end: datetime, excluded: set[int]) -> None:
        self.session, self.objective, self.excluded = session, objective, excluded
        self.complete_before = int(now_end.timestamp()) // DAY
        self.slice_minutes = max((objective.timeslice_seconds or MINUTE) // MINUTE, 1)
        self.target = objective.timeslice_target if objective.timeslice_target is not None else objective.objective
        self.threshold_bin = threshold_bin_of(objective)

    async def _minutes(self, first: int, stop: int) -> Tally:
        rows = await buckets.minute_rows(
            self.session,
            tenant=self.objective.tenant,
            service=self.objective.service_key,
            indicator=self.objective.indicator,
            first=first,
            stop=stop,
            threshold_bin=self.threshold_bin,
        )
        kept = [row for row in rows if row[0] not in self.excluded]
        return slice_tally(
            kept, slice_minutes=self.slice_minutes, slice_target=self.target, method=self.objective.budgeting_method
        )

    async def tally(self, bounds: Bounds) -> Tally:
        first, stop = int(bounds.start.timestamp()) // MINUTE, int(bounds.end.timestamp()) // MINUTE
        per_day = DAY // MINUTE
        day_lo, day_hi = -(-first // per_day), min(stop // per_day, self.complete_before)
        if day_lo >= day_hi:
            return await self._minutes(first, stop)
        total = await self._minutes(first, day_lo * per_day) + await self._minutes(day_hi * per_day, stop)
        cached = await repository.slice_tallies(
            self.session, objective_row_id=self.objective.id, first_day=day_lo, stop_day=day_hi
        )
        for day in range(day_lo, day_hi):
            if day in cached:
                total = total + Tally(*cached[day])
                continue
            computed = await self._minutes(day * per_day, (day + 1) * per_day)
            self.session.add(
                SliceTally(
                    objective_row_id=self.objective.id,
                    day=day,
                    tenant=self.objective.tenant,
                    service=self.objective.service_key,
                    indicator=self.objective.indicator,
                    good=computed.good,
                    total=computed.total,
                )
            )
            cached[day] = (computed.good, computed.total)
            total = total + computed
        return total


def threshold_bin_of(objective: Objective) -> int | None:
    if objective.indicator_kind == "threshold" and objective.threshold is not None:
        return bin_of(objective.threshold)
    return None


def _signed(bounds: Bounds, excluded: list[Bounds]) -> list[tuple[Bounds, int]]:
    parts: list[tuple[Bounds, int]] = [(bounds, 1)]
    for interval in excluded:
        if (inside := clip(interval, bounds.start, bounds.end)) is not None:
            parts.append((inside, -1))
    return parts


async def tally_ranges(
    session: AsyncSession,
    objective: Objective,
    ranges: dict[str, Bounds],
    *,
    now_end: datetime,
    extent_end: datetime | None = None,
) -> tuple[dict[str, Tally], list[Bounds]]:
    """Good and total of the objective over each labelled range, maintenance left out; and the maintenance."""
    earliest = min(r.start for r in ranges.values())
    latest = max([r.end for r in ranges.values()] + ([extent_end] if extent_end else []))
    excluded = maintenance.excluded_intervals(maintenance_of(objective), Bounds(earliest, latest))
    if objective.indicator_kind == TICKET_TIME:
        tallies = await ticket_compliance.range_tallies(
            session,
            tenant=objective.tenant,
            agreement_id=objective.agreement_id,
            indicator=objective.indicator,
            ranges=ranges,
        )
    elif objective.budgeting_method == OCCURRENCES:
        tallies = await buckets.range_tallies(
            session,
            tenant=objective.tenant,
            service=objective.service_key,
            indicator=objective.indicator,
            ranges={label: _signed(r, excluded) for label, r in ranges.items()},
            threshold_bin=threshold_bin_of(objective),
        )
    else:
        reader = _SliceReader(session, objective, now_end, maintenance.minutes_in(excluded))
        tallies = {label: await reader.tally(r) for label, r in ranges.items()}
    return tallies, excluded


async def measure(session: AsyncSession, objective: Objective, *, now: datetime) -> Measurement:
    """Tally the window and every lookback, then judge attainment, budget, alerts and forecast."""
    bounds = window_bounds(window_of(objective), now)
    policy = policy_of(objective)
    forecast_lookbacks = [parse_duration(text) for text in objective.forecast_lookbacks or DEFAULT_FORECAST_LOOKBACKS]
    wanted = sorted(lookbacks(policy) | set(forecast_lookbacks))
    now_end = lookback_bounds(now, timedelta(minutes=1)).end
    ranges: dict[str, Bounds] = {WINDOW: Bounds(bounds.start, min(bounds.end, now_end))}
    ranges.update({format_duration(length): lookback_bounds(now, length) for length in wanted})
    tallies, excluded = await tally_ranges(
        session, objective, ranges, now_end=now_end, extent_end=max(bounds.end, now_end)
    )
    window = tallies[WINDOW]
    value = attainment(window.good, window.total)
    rates = {
        length: burn_rate(tallies[format_duration(length)], objective.objective, objective.comparison)
        for length in wanted
    }
    alerts = evaluate_policy(policy, period=bounds.end - bounds.start, burn_rates=rates)
    forecasts = [
        forecast(
            rolling=objective.window_kind == "rolling",
            now=now,
            window_start=bounds.start,
            window_end=bounds.end,
            window=window,
            recent=tallies[format_duration(length)],
            lookback=length,
            objective=objective.objective,
            comparison=objective.comparison,
        )
        for length in forecast_lookbacks
    ]
    misses = bool(forecasts) and all(f.misses_target for f in forecasts)
    return Measurement(
        bounds=bounds,
        window=window,
        attainment=value,
        budget=error_budget(value, objective.objective, objective.comparison),
        burn_rates=rates,
        alerts=alerts,
        forecasts=forecasts,
        verdict=verdict(
            has_data=value is not None,
            meets_target=value is not None and meets(value, objective.objective, objective.comparison),
            forecast_misses=misses,
        ),
        excluded_minutes=sum(int((b.end - b.start).total_seconds()) // MINUTE for b in excluded if b.start < now_end),
    )
