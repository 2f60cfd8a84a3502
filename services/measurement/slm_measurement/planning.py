"""What one evaluation reads, worked out without the database: the window, lookbacks, tiers and maintenance.

A pass plans every objective at one `now`: objectives sharing a window, a policy or lookbacks share
the bounds and labelled ranges computed for them (cached per distinct value, never mutated).
"""

from __future__ import annotations

import functools
import json
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import Any

from slm_measurement import versioned
from slm_measurement.agreed import Agreed, counted_ranges
from slm_measurement.domain import maintenance
from slm_measurement.domain.alerts import BurnTier, lookbacks
from slm_measurement.domain.alerts import tiers_of as tiers_of
from slm_measurement.domain.windows import (
    Bounds,
    WindowSpec,
    floor_minute,
    lookback_bounds,
    parse_duration,
    window_bounds,
)
from slm_measurement.domain.windows import format_duration as format_duration
from slm_measurement.models import Objective

DEFAULT_FORECAST_LOOKBACKS = ("1h", "24h")
WINDOW = "window"
TICKET_TIME = "ticket_time"


def window_of(objective: Objective) -> WindowSpec:
    return WindowSpec(
        objective.window_kind, objective.window_duration, objective.window_unit, objective.window_timezone
    )


def policy_of(objective: Objective) -> tuple[BurnTier, ...]:
    """The objective's burn-rate tiers: its own, or the SRE workbook's default."""
    return tiers_of(objective.alert_policy)


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


def excluded_of(objective: Objective, ranges: dict[str, Bounds], extent_end: datetime | None = None) -> list[Bounds]:
    """The objective's maintenance intervals within the extent of the ranges."""
    earliest = min(r.start for r in ranges.values())
    latest = max([r.end for r in ranges.values()] + ([extent_end] if extent_end else []))
    return maintenance.excluded_intervals(maintenance_of(objective), Bounds(earliest, latest))


Counted = dict[str, list[Bounds]]


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
    # Worked out once per distinct policy, lookbacks and window length (shared by the plans that have them):
    labels: dict[timedelta, str] = field(default_factory=dict)  # each lookback's range label
    factors: tuple[float, ...] | None = None  # each tier's factor over the window's length
    extent: Bounds | None = None  # from the earliest range start to the latest end, when all are whole minutes


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
def _policy(policy_json: str | None) -> tuple[BurnTier, ...]:
    return tiers_of(json.loads(policy_json) if policy_json else None)


@functools.lru_cache(maxsize=256)
def _lookbacks_of(
    policy_json: str | None, forecast_texts: tuple[str, ...]
) -> tuple[tuple[BurnTier, ...], tuple[timedelta, ...], tuple[timedelta, ...], dict[timedelta, str]]:
    """The burn tiers, forecast lookbacks, every lookback wanted and their labels, once per distinct policy."""
    policy = _policy(policy_json)
    forecast_lookbacks = tuple(parse_duration(text) for text in forecast_texts)
    wanted = tuple(sorted(lookbacks(policy) | set(forecast_lookbacks)))
    return policy, forecast_lookbacks, wanted, {length: format_duration(length) for length in wanted}


@functools.lru_cache(maxsize=256)
def _factors(policy_json: str | None, period: timedelta) -> tuple[float, ...]:
    """Each tier's factor over a window of `period` (`BurnTier.factor`), once per distinct policy and length."""
    return tuple(tier.factor(period) for tier in _policy(policy_json))


@functools.lru_cache(maxsize=256)
def _plain_plan(
    window: tuple[str, str | None, str | None, str],
    policy_json: str | None,
    forecast_texts: tuple[str, ...],
    now: datetime,
) -> Plan:
    """The plan of every objective with these terms at `now` that nothing clips or excludes (shared: never mutated)."""
    bounds = _window_bounds(window, now)
    policy, forecasts, wanted_lengths, labels = _lookbacks_of(policy_json, forecast_texts)
    now_end, ranges = _ranges_of(bounds, bounds.start.tzinfo, now, wanted_lengths)
    factors = _factors(policy_json, bounds.end - bounds.start)
    return Plan(
        bounds,
        policy,
        list(forecasts),
        list(wanted_lengths),
        now_end,
        ranges,
        [],
        None,
        labels=labels,
        factors=factors,
        extent=_extent(ranges),
    )


def _extent(ranges: dict[str, Bounds]) -> Bounds | None:
    """The span of the ranges, or None when one of them does not start and end on whole minutes."""
    if any(floor_minute(r.start) != r.start or floor_minute(r.end) != r.end for r in ranges.values()):
        return None
    return Bounds(min(r.start for r in ranges.values()), max(r.end for r in ranges.values()))


# Plans of objectives without maintenance whose agreement has one version, by everything they depend on
# (see `plan`): a chunk plans its objectives at one `now`, so those with equal terms take one plan. `now` is
# in the key and each chunk takes its own, so only plans of the chunk being planned are found again: those of
# earlier chunks are never hit and wait to be dropped. Bounded: the least recently used plan goes first, so a
# chunk of distinct versions never empties the plans it shares.
_ONE_VERSION_PLANS: OrderedDict[tuple[Any, ...], Plan] = OrderedDict()
_ONE_VERSION_PLANS_MAX = 1024


def plan(objective: Objective, *, now: datetime, agreed: Agreed | None = None, share_whole: bool = False) -> Plan:
    """The ranges an evaluation at `now` tallies, each clipped to the time its agreement carried it (no database).

    `share_whole`: when one version of the agreement counts every range whole (and no maintenance is left
    out), the plan shared by every objective with these terms at `now`, nothing clipped (`counted` None):
    what the evaluation pass reads and judges, clipped or not. A working shows the parts counted, so keeps them.
    With `share_whole`, an objective without maintenance whose agreement has one version also shares its
    clipped plan with every objective of equal terms and an equal version (`_one_version_key`) planned at the
    same `now`: in a pass, those of the same chunk.
    """
    window = _window_key(objective)
    policy_json = json.dumps(objective.alert_policy, sort_keys=True) if objective.alert_policy else None
    forecast_texts = tuple(objective.forecast_lookbacks or DEFAULT_FORECAST_LOOKBACKS)
    if not objective.maintenance_windows:
        if agreed is None:
            return _plain_plan(window, policy_json, forecast_texts, now)
        if share_whole and len(agreed.versions) == 1:
            key = _one_version_key(objective, agreed, window, policy_json, forecast_texts, now)
            if (found := _ONE_VERSION_PLANS.get(key)) is not None:
                _ONE_VERSION_PLANS.move_to_end(key)
                return found
            found = _ONE_VERSION_PLANS[key] = _agreed_plan(
                objective, agreed, window, policy_json, forecast_texts, now, share_whole=True
            )
            if len(_ONE_VERSION_PLANS) > _ONE_VERSION_PLANS_MAX:
                _ONE_VERSION_PLANS.popitem(last=False)
            return found
    return _agreed_plan(objective, agreed, window, policy_json, forecast_texts, now, share_whole=share_whole)


def _one_version_key(
    objective: Objective,
    agreed: Agreed,
    window: tuple[str, str | None, str | None, str],
    policy_json: str | None,
    forecast_texts: tuple[str, ...],
    now: datetime,
) -> tuple[Any, ...]:
    """All an objective's plan depends on when it has no maintenance windows and its agreement one version.

    Its terms (window, policy, lookbacks) and `now` give the ranges; the one version's span, and whether
    it carries the objective, give the parts counted (`Agreed.counted`, `counts_whole`); one version cuts
    no segments (`versioned.segments`). The zones of the version's instants are in the key: equal instants
    in two zones are equal versions whose clipped bounds print apart. So are the instants in UTC: two wall
    times of one zone compare equal across a clock change (`fold`) though they are an hour apart.
    """
    version = agreed.versions[0]
    carried = agreed.carries.get(version.version)
    return (
        window,
        policy_json,
        forecast_texts,
        now,
        now.tzinfo,
        version,
        agreed.instants[0],
        carried is None or objective.objective_id in carried,
    )


def _agreed_plan(
    objective: Objective,
    agreed: Agreed | None,
    window: tuple[str, str | None, str | None, str],
    policy_json: str | None,
    forecast_texts: tuple[str, ...],
    now: datetime,
    *,
    share_whole: bool,
) -> Plan:
    """`plan`, its terms worked out: shared when `share_whole` and every range counts whole, else clipped."""
    if share_whole and agreed is not None and not objective.maintenance_windows:
        shared = _plain_plan(window, policy_json, forecast_texts, now)
        extent = shared.extent
        if extent is not None and agreed.counts_whole(objective.objective_id, extent.start, extent.end):
            return shared
    bounds = _window_bounds(window, now)
    policy, forecasts, wanted_lengths, labels = _lookbacks_of(policy_json, forecast_texts)
    forecast_lookbacks, wanted = list(forecasts), list(wanted_lengths)
    now_end, ranges = _ranges_of(bounds, bounds.start.tzinfo, now, wanted_lengths)
    # No maintenance windows, nothing excluded: the common case skips expanding an empty schedule.
    excluded = excluded_of(objective, ranges, max(bounds.end, now_end)) if objective.maintenance_windows else []
    counted = counted_ranges(agreed, objective.objective_id, ranges)
    segments = versioned.segments(objective, agreed, counted)
    factors = _factors(policy_json, bounds.end - bounds.start)
    return Plan(
        bounds,
        policy,
        forecast_lookbacks,
        wanted,
        now_end,
        ranges,
        excluded,
        counted,
        segments=segments,
        labels=labels,
        factors=factors,
    )
