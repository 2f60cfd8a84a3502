"""One objective's evaluation: tallies read from the rollups, then the pure maths of the domain."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from slm_measurement import buckets, repository, versioned
from slm_measurement.agreed import Agreed, agreed_of, counted_ranges
from slm_measurement.domain import maintenance, observed
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
from slm_measurement.policy import forecast_misses
from slm_measurement.thresholds import counted_indicator
from slm_measurement.tickets import compliance as ticket_compliance

DEFAULT_FORECAST_LOOKBACKS = ("1h", "24h")
WINDOW = "window"
TICKET_TIME = "ticket_time"


@functools.lru_cache(maxsize=256)
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
    return tiers_of(objective.alert_policy)


def tiers_of(alert_policy: list[dict[str, Any]] | None) -> tuple[BurnTier, ...]:
    """The burn-rate tiers of a stored alert policy (the SRE workbook's default without one)."""
    if not alert_policy:
        return DEFAULT_POLICY
    return tuple(
        BurnTier(
            name=tier["name"],
            severity=tier["severity"],
            budget_share=float(tier["budget_share"]),
            long_window=parse_duration(tier["long_window"]),
            short_window=parse_duration(tier["short_window"]),
        )
        for tier in alert_policy
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
    observed_minutes: int = 0
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class SliceCache:
    """How long data may still arrive for a minute: the ingest's max lateness (`MEASUREMENT_MAX_LATENESS_SECONDS`)."""

    lateness: timedelta = timedelta(days=7)


SLICE_CACHE = SliceCache()


def settled_day(now_end: datetime) -> int:
    """The first UTC day (since the epoch) that late data may still change: days before it are cached."""
    return int((now_end - SLICE_CACHE.lateness).timestamp()) // DAY


class _SliceReader:
    """Timeslice tallies: UTC days behind the lateness watermark from the per-objective cache, the rest from minutes.

    A day is cached only once no point for it can still be accepted, so a cached tally never goes stale.
    """

    def __init__(
        self, session: AsyncSession, objective: Objective, now_end: datetime, excluded: set[int], cached: bool = True
    ) -> None:
        self.session, self.objective, self.excluded, self.cached = session, objective, excluded, cached
        self.complete_before = settled_day(now_end)
        self.slice_minutes = max((objective.timeslice_seconds or MINUTE) // MINUTE, 1)
        self.target = objective.timeslice_target if objective.timeslice_target is not None else objective.target
        self.indicator = counted_indicator(objective)
        self.observed = observed.minutes_of(observed.spans_of(objective.observed))

    async def _minutes(self, first: int, stop: int) -> Tally:
        rows = await buckets.minute_rows(
            self.session,
            tenant=self.objective.tenant,
            service=self.objective.service_key,
            indicator=self.indicator,
            first=first,
            stop=stop,
            scope=self.objective.scope,
        )
        rows = observed.bad_minutes(rows, self.observed, first, stop)
        kept = [row for row in rows if row[0] not in self.excluded]
        return slice_tally(
            kept, slice_minutes=self.slice_minutes, slice_target=self.target, method=self.objective.budgeting_method
        )

    async def tally(self, bounds: Bounds) -> Tally:
        first, stop = int(bounds.start.timestamp()) // MINUTE, int(bounds.end.timestamp()) // MINUTE
        per_day = DAY // MINUTE
        day_lo, day_hi = -(-first // per_day), min(stop // per_day, self.complete_before)
        if day_lo >= day_hi or not self.cached:
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


def _signed(counted: list[Bounds], excluded: list[Bounds]) -> list[tuple[Bounds, int]]:
    parts: list[tuple[Bounds, int]] = []
    for bounds in counted:
        parts.append((bounds, 1))
        for interval in excluded:
            if (inside := clip(interval, bounds.start, bounds.end)) is not None:
                parts.append((inside, -1))
    return parts


def excluded_of(objective: Objective, ranges: dict[str, Bounds], extent_end: datetime | None = None) -> list[Bounds]:
    """The objective's maintenance intervals within the extent of the ranges."""
    earliest = min(r.start for r in ranges.values())
    latest = max([r.end for r in ranges.values()] + ([extent_end] if extent_end else []))
    return maintenance.excluded_intervals(maintenance_of(objective), Bounds(earliest, latest))


def batchable(objective: Objective) -> bool:
    """Whether the objective's tallies are plain signed sums of rollups (readable with its series' peers)."""
    return objective.indicator_kind != TICKET_TIME and objective.budgeting_method == OCCURRENCES


Counted = dict[str, list[Bounds]]


def counted_parts(ranges: dict[str, Bounds], counted: Counted | None) -> Counted:
    """Each labelled range as the parts of it that count (the whole range when nothing is clipped)."""
    return {label: counted[label] if counted is not None else [r] for label, r in ranges.items()}


def signed_ranges(
    ranges: dict[str, Bounds], excluded: list[Bounds], counted: Counted | None = None
) -> dict[str, list[tuple[Bounds, int]]]:
    """Each labelled range, only its counted parts, with its maintenance subtracted."""
    return {label: _signed(parts, excluded) for label, parts in counted_parts(ranges, counted).items()}


def _split(ranges: dict[str, Bounds], counted: Counted | None) -> dict[str, Bounds]:
    labelled = counted_parts(ranges, counted).items()
    return {f"{label}|{n}": part for label, parts in labelled for n, part in enumerate(parts)}


def _summed(ranges: dict[str, Bounds], counted: Counted | None, found: dict[str, Tally]) -> dict[str, Tally]:
    totals = {}
    for label, parts in counted_parts(ranges, counted).items():
        total = Tally(0.0, 0.0)
        for n in range(len(parts)):
            total = total + found[f"{label}|{n}"]
        totals[label] = total
    return totals


def objective_ranges(
    objective: Objective, ranges: dict[str, Bounds], excluded: list[Bounds], counted: Counted | None = None
) -> dict[str, list[tuple[Bounds, int]]]:
    """The signed ranges an objective reads: counted parts only, maintenance subtracted, observed spans labelled."""
    signed = signed_ranges(ranges, excluded, counted)
    if objective.observed:
        spans = observed.spans_of(objective.observed)
        for label, parts in counted_parts(ranges, counted).items():
            for part in parts:
                for key, pieces in observed.observed_ranges({label: part}, excluded, spans).items():
                    signed.setdefault(key, []).extend(pieces)
    return signed


async def read_tallies(
    session: AsyncSession,
    objective: Objective,
    ranges: dict[str, Bounds],
    excluded: list[Bounds],
    *,
    now_end: datetime,
    counted: Counted | None = None,
    cached: bool = True,
) -> dict[str, Tally]:
    """Good and total over the counted parts of each labelled range, the excluded intervals left out.

    `cached=False` reads timeslices from minutes only, never from or into the per-day cache (whose
    days hold the stored row's definition).
    """
    if objective.indicator_kind == TICKET_TIME:
        parts = _split(ranges, counted)
        found = (
            await ticket_compliance.range_tallies(
                session,
                tenant=objective.tenant,
                agreement_id=objective.agreement_id,
                indicator=objective.indicator,
                ranges=parts,
            )
            if parts
            else {}
        )
        return _summed(ranges, counted, found)
    if objective.budgeting_method == OCCURRENCES:
        found = await buckets.range_tallies(
            session,
            tenant=objective.tenant,
            service=objective.service_key,
            indicator=counted_indicator(objective),
            ranges=objective_ranges(objective, ranges, excluded, counted),
            scope=objective.scope,
        )
        return observed.reclassify(found)
    reader = _SliceReader(session, objective, now_end, maintenance.minutes_in(excluded), cached)
    return _summed(ranges, counted, {label: await reader.tally(r) for label, r in _split(ranges, counted).items()})


async def tally_ranges(
    session: AsyncSession,
    objective: Objective,
    ranges: dict[str, Bounds],
    *,
    now_end: datetime,
    extent_end: datetime | None = None,
) -> tuple[dict[str, Tally], list[Bounds]]:
    """Good and total of the objective over each labelled range, maintenance left out; and the maintenance."""
    excluded = excluded_of(objective, ranges, extent_end)
    return await read_tallies(session, objective, ranges, excluded, now_end=now_end), excluded


@dataclass(frozen=True)
class Plan:
    """What one evaluation reads: the window, every lookback and the maintenance left out."""

    bounds: Bounds
    policy: tuple[BurnTier, ...]
    forecast_lookbacks: list[timedelta]
    wanted: list[timedelta]
    now_end: datetime
    ranges: dict[str, Bounds]
    excluded: list[Bounds]
    counted: Counted | None = None
    agreement_version: int | None = None
    segments: tuple[versioned.Segment, ...] | None = None


# A pass evaluates every objective at one `now`: objectives sharing a window or lookbacks share these.
@functools.lru_cache(maxsize=256)
def _window_bounds(window: tuple[str, str | None, str | None, str], now: datetime) -> Bounds:
    return window_bounds(WindowSpec(*window), now)


def _window_key(objective: Objective) -> tuple[str, str | None, str | None, str]:
    return (objective.window_kind, objective.window_duration, objective.window_unit, objective.window_timezone)


@functools.lru_cache(maxsize=256)
def _lookback_ranges(now: datetime, wanted: tuple[timedelta, ...]) -> tuple[datetime, dict[str, Bounds]]:
    """The end of the current minute and each lookback's bounds, labelled."""
    now_end = lookback_bounds(now, timedelta(minutes=1)).end
    return now_end, {format_duration(length): lookback_bounds(now, length) for length in wanted}


@functools.lru_cache(maxsize=256)
def _ranges_of(
    bounds: Bounds, zone: tzinfo | None, now: datetime, wanted: tuple[timedelta, ...]
) -> tuple[datetime, dict[str, Bounds]]:
    """The window (up to the end of the current minute) and each lookback, labelled.

    One mapping shared by every plan with the same window and lookbacks at `now`: never mutated.
    The window's zone is in the key: equal instants in two zones are equal bounds, shown differently.
    """
    now_end, lookback_ranges = _lookback_ranges(now, wanted)
    return now_end, {WINDOW: Bounds(bounds.start, min(bounds.end, now_end)), **lookback_ranges}


@functools.lru_cache(maxsize=256)
def _lookbacks_of(
    policy_json: str | None, forecast_texts: tuple[str, ...]
) -> tuple[tuple[BurnTier, ...], tuple[timedelta, ...], tuple[timedelta, ...]]:
    """The burn tiers, forecast lookbacks and every lookback wanted, computed once per distinct policy."""
    policy = tiers_of(json.loads(policy_json) if policy_json else None)
    forecast_lookbacks = tuple(parse_duration(text) for text in forecast_texts)
    return policy, forecast_lookbacks, tuple(sorted(lookbacks(policy) | set(forecast_lookbacks)))


def plan(objective: Objective, *, now: datetime, agreed: Agreed | None = None) -> Plan:
    """The ranges an evaluation at `now` tallies, each clipped to the time its agreement carried it (no database)."""
    bounds = _window_bounds(_window_key(objective), now)
    policy_json = json.dumps(objective.alert_policy, sort_keys=True) if objective.alert_policy else None
    forecast_texts = tuple(objective.forecast_lookbacks or DEFAULT_FORECAST_LOOKBACKS)
    policy, forecasts, wanted_lengths = _lookbacks_of(policy_json, forecast_texts)
    forecast_lookbacks, wanted = list(forecasts), list(wanted_lengths)
    now_end, ranges = _ranges_of(bounds, bounds.start.tzinfo, now, wanted_lengths)
    # No maintenance windows, nothing excluded: the common case skips expanding an empty schedule.
    excluded = excluded_of(objective, ranges, max(bounds.end, now_end)) if objective.maintenance_windows else []
    counted = counted_ranges(agreed, objective.objective_id, ranges)
    segments = versioned.segments(objective, agreed, counted)
    return Plan(bounds, policy, forecast_lookbacks, wanted, now_end, ranges, excluded, counted, segments=segments)


async def read_plan(session: AsyncSession, objective: Objective, planned: Plan) -> dict[str, Tally]:
    """The tallies of a plan (its counted parts only)."""
    return await read_tallies(
        session, objective, planned.ranges, planned.excluded, now_end=planned.now_end, counted=planned.counted
    )


@dataclass(frozen=True)
class Read:
    """A plan's tallies, the target each range is judged against, and each range's version segments."""

    tallies: dict[str, Tally]
    targets: dict[str, float] | None = None
    segments: dict[str, list[versioned.SegmentTally]] | None = None


async def read_segmented(
    session: AsyncSession,
    objective: Objective,
    ranges: dict[str, Bounds],
    segments: tuple[versioned.Segment, ...],
    *,
    now_end: datetime,
    cached: bool = True,
    maintenance_left_out: bool = True,
) -> Read:
    """Each version's parts read against its own terms (threshold, maintenance, slice rule), then combined."""
    extent = max(r.end for r in ranges.values())
    found = []
    for segment in segments:
        defined = segment.objective
        excluded = excluded_of(defined, ranges, extent) if maintenance_left_out else []
        keep = cached and defined.agreement_version == objective.agreement_version
        tallies = await read_tallies(
            session, defined, ranges, excluded, now_end=now_end, counted=segment.parts, cached=keep
        )
        found.append((segment, tallies))
    tallies, targets, detail = versioned.combined(objective, found)
    return Read(tallies, targets, detail)


async def read_judged(session: AsyncSession, objective: Objective, planned: Plan, *, cached: bool = True) -> Read:
    """The plan's tallies, cut by version when an amendment changed the terms inside a range."""
    if planned.segments is None:
        return Read(await read_plan(session, objective, planned))
    return await read_segmented(
        session, objective, planned.ranges, planned.segments, now_end=planned.now_end, cached=cached
    )


async def measure(session: AsyncSession, objective: Objective, *, now: datetime) -> Measurement:
    """Tally the window and every lookback while the agreement carried the objective, then judge them."""
    planned = plan(objective, now=now, agreed=await agreed_of(session, objective))
    read = await read_judged(session, objective, planned)
    return judge(objective, planned, read.tallies, now=now, targets=read.targets)


def judge(
    objective: Objective,
    planned: Plan,
    tallies: dict[str, Tally],
    *,
    now: datetime,
    targets: dict[str, float] | None = None,
) -> Measurement:
    """Attainment, budget, alerts and forecast from the tallies of a plan (no database).

    `targets` holds, per range, the target whose budget is the sum of its version segments' budgets
    (see `versioned`); without it every range is judged against the objective's target.
    """
    bounds, wanted, forecast_lookbacks = planned.bounds, planned.wanted, planned.forecast_lookbacks
    excluded, now_end = planned.excluded, planned.now_end

    def target_of(label: str) -> float:
        return targets.get(label, objective.target) if targets is not None else objective.target

    window = tallies[WINDOW]
    target = target_of(WINDOW)
    value = attainment(window.good, window.total)
    rates = {
        length: burn_rate(tallies[format_duration(length)], target_of(format_duration(length))) for length in wanted
    }
    alerts = evaluate_policy(planned.policy, period=bounds.end - bounds.start, burn_rates=rates)
    forecasts = [
        forecast(
            rolling=objective.window_kind == "rolling",
            now=now,
            window_start=bounds.start,
            window_end=bounds.end,
            window=window,
            recent=tallies[format_duration(length)],
            lookback=length,
            target=target,
        )
        for length in forecast_lookbacks
    ]
    misses = forecast_misses(forecasts, objective.at_risk_rule)
    return Measurement(
        bounds=bounds,
        window=window,
        attainment=value,
        budget=error_budget(value, target),
        burn_rates=rates,
        alerts=alerts,
        forecasts=forecasts,
        verdict=verdict(
            has_data=value is not None,
            meets_target=value is not None and meets(value, target),
            forecast_misses=misses,
        ),
        excluded_minutes=sum(int((b.end - b.start).total_seconds()) // MINUTE for b in excluded if b.start < now_end),
        observed_minutes=observed.observed_minutes(
            observed.spans_of(objective.observed), planned.ranges[WINDOW], excluded
        )
        if objective.observed
        else 0,
        details={"budget_target": target} if targets is not None else {},
    )
