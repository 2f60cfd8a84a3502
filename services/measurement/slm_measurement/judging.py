"""Judging an evaluation: attainment, budget, burn-rate tiers, forecasts and verdict from a plan's tallies.

Pure functions of the plan, the tallies and the objective's terms (no database), and the details an
evaluation stores, built from what was judged.
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import Any

import msgspec

from slm_measurement.domain import observed
from slm_measurement.domain.alerts import BurnTier, TierState, evaluate_policy
from slm_measurement.domain.budget import (
    ErrorBudget,
    Tally,
    attainment,
    bad_share,
    error_budget,
    meets,
    spend_rate,
    spend_rates,
)
from slm_measurement.domain.forecast import Forecast, Projection, outlook, projection
from slm_measurement.domain.status import verdict
from slm_measurement.domain.windows import (
    MINUTE,
    Bounds,
)
from slm_measurement.models import Objective
from slm_measurement.planning import WINDOW, Plan, format_duration
from slm_measurement.policy import forecast_misses


@dataclass(slots=True)
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


@dataclass(frozen=True, slots=True)
class Reading:
    """What judging takes from a plan's tallies whatever the target (see `read`).

    Objectives reading the same tallies under the same window and plan, with different targets,
    share one reading; `judge_reading` then works out what each target makes of it.
    """

    window: Tally
    attainment: float | None
    shares: tuple[tuple[timedelta, str, float | None], ...]  # per lookback wanted: its label, its bad share
    projections: tuple[Projection, ...]  # per forecast lookback
    excluded_minutes: int
    observed_minutes: int


def read(objective: Objective, planned: Plan, tallies: dict[str, Tally], *, now: datetime) -> Reading:
    """The target-independent part of judging: attainment, each lookback's bad share, the forecasts' projections."""
    bounds, excluded, now_end = planned.bounds, planned.excluded, planned.now_end
    labels = planned.labels or {
        length: format_duration(length) for length in (*planned.wanted, *planned.forecast_lookbacks)
    }
    window = tallies[WINDOW]
    shares = []
    for length in planned.wanted:
        label = labels[length]
        value = attainment(tallies[label].good, tallies[label].total)
        shares.append((length, label, None if value is None else bad_share(value)))
    rolling = objective.window_kind == "rolling"
    return Reading(
        window=window,
        attainment=attainment(window.good, window.total),
        shares=tuple(shares),
        projections=tuple(
            projection(
                rolling=rolling,
                now=now,
                window_start=bounds.start,
                window_end=bounds.end,
                window=window,
                recent=tallies[labels[length]],
                lookback=length,
            )
            for length in planned.forecast_lookbacks
        ),
        excluded_minutes=sum(int((b.end - b.start).total_seconds()) // MINUTE for b in excluded if b.start < now_end),
        observed_minutes=observed.observed_minutes(
            observed.spans_of(objective.observed), planned.ranges[WINDOW], excluded
        )
        if objective.observed
        else 0,
    )


def judge_reading(
    reading: Reading, objective: Objective, planned: Plan, *, targets: dict[str, float] | None = None
) -> Measurement:
    """Budget, burn rates, alerts, forecasts and verdict of a reading against the objective's target.

    `targets` holds, per range, the target whose budget is the sum of its version segments' budgets
    (see `versioned`); without it every range is judged against the objective's target.
    """
    bounds = planned.bounds
    target = targets.get(WINDOW, objective.target) if targets is not None else objective.target
    value = reading.attainment
    if targets is None:
        rates = spend_rates(reading.shares, target)
    else:
        rates = {
            length: spend_rate(share, targets.get(label, objective.target)) for length, label, share in reading.shares
        }
    alerts = evaluate_policy(
        planned.policy, period=bounds.end - bounds.start, burn_rates=rates, factors=planned.factors
    )
    forecasts = [outlook(projected, target) for projected in reading.projections]
    misses = forecast_misses(forecasts, objective.at_risk_rule)
    return Measurement(
        bounds=bounds,
        window=reading.window,
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
        excluded_minutes=reading.excluded_minutes,
        observed_minutes=reading.observed_minutes,
        details={"budget_target": target} if targets is not None else {},
    )


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
    return judge_reading(read(objective, planned, tallies, now=now), objective, planned, targets=targets)


def _iso(instant: datetime | None) -> str | None:
    return _isoformat(instant, instant.tzinfo) if instant is not None else None


@functools.lru_cache(maxsize=1024)
def _isoformat(instant: datetime, tz: tzinfo | None) -> str:
    """Objectives sharing a window share its forecast instants; the zone is in the key (equal instants may differ)."""
    return instant.isoformat()


@functools.lru_cache(maxsize=256)
def _tier_terms(tier: BurnTier) -> dict[str, Any]:
    """A tier's terms as stored in the details (unpacked into a new dict for every objective, never shared)."""
    return {
        "name": tier.name,
        "severity": tier.severity,
        "budget_share": tier.budget_share,
        "long_window": format_duration(tier.long_window),
        "short_window": format_duration(tier.short_window),
    }


def details_of(found: Measurement, method: str) -> dict[str, Any]:
    """The evaluation's burn rates, alerts and forecasts as stored on the objective."""
    return {
        **found.details,  # budget_target, when an amendment changed the terms inside the window
        "unit": "events" if method == "occurrences" else "slices",
        "excluded_minutes": found.excluded_minutes,
        "customer_observed_minutes": found.observed_minutes,
        "burn_rates": [
            {"lookback": format_duration(length), "burn_rate": rate}
            for length, rate in sorted(found.burn_rates.items())
        ],
        "alerts": [
            {
                **_tier_terms(s.tier),
                "factor": s.factor,
                "long_burn": s.long_burn,
                "short_burn": s.short_burn,
                "firing": s.firing,
            }
            for s in found.alerts
        ],
        "forecasts": [
            {
                "lookback": format_duration(f.lookback),
                "horizon_end": _iso(f.horizon_end),
                "expected_attainment": f.expected_attainment,
                "budget_exhausted_at": _iso(f.budget_exhausted_at),
                "misses_target": f.misses_target,
            }
            for f in found.forecasts
        ],
    }


class _BurnRate(msgspec.Struct, gc=False):
    lookback: str
    burn_rate: float | None


class _Alert(msgspec.Struct, gc=False):
    name: str
    severity: str
    budget_share: float
    long_window: str
    short_window: str
    factor: float
    long_burn: float | None
    short_burn: float | None
    firing: bool


class _Forecast(msgspec.Struct, gc=False):
    lookback: str
    horizon_end: str | None
    expected_attainment: float | None
    budget_exhausted_at: str | None
    misses_target: bool


class _Details(msgspec.Struct, gc=False):
    """`details_of`'s keys in its order: encoded, the same JSON object (fields are encoded in order)."""

    unit: str
    excluded_minutes: int
    customer_observed_minutes: int
    burn_rates: list[_BurnRate]
    alerts: list[_Alert]
    forecasts: list[_Forecast]


_encode = msgspec.json.Encoder().encode


@functools.lru_cache(maxsize=256)
def _alert_terms(tier: BurnTier) -> tuple[str, str, float, str, str]:
    """A tier's terms as `_Alert` takes them first (its lookbacks labelled), once per distinct tier.

    The cache hands an equal tier the terms of the first one met: exact, as equal tiers encode alike.
    `tiers_of` makes every `budget_share` a float (so never an int 1 equal to 1.0) and the terms keep
    it above 0 (so never a -0.0 equal to 0.0); names, severities and equal timedeltas print alike.
    """
    return (
        tier.name,
        tier.severity,
        tier.budget_share,
        format_duration(tier.long_window),
        format_duration(tier.short_window),
    )


def details_json(found: Measurement, method: str) -> str:
    """`details_of(found, method)` as JSON text: what storing it stores, once decoded (types included).

    Encoded from structs rather than built as dicts and dumped with `json` (most of an evaluation's
    cost). A non-finite number, which `json` writes as NaN or Infinity where msgspec writes null,
    and extra details (`budget_target`) take the `json` route, so the stored value never differs.
    """
    if found.details:
        return json.dumps(details_of(found, method))
    spent = 0.0  # every number that may not be finite, summed: NaN or infinite if one of them is
    rates = []
    for length, rate in sorted(found.burn_rates.items()):
        if rate is not None:
            spent += rate
        rates.append(_BurnRate(format_duration(length), rate))
    alerts = []
    for s in found.alerts:
        spent += s.factor
        alerts.append(_Alert(*_alert_terms(s.tier), s.factor, s.long_burn, s.short_burn, s.firing))
    forecasts = []
    for f in found.forecasts:
        if (expected := f.expected_attainment) is not None:
            spent += expected
        forecasts.append(
            _Forecast(
                format_duration(f.lookback), _iso(f.horizon_end), expected, _iso(f.budget_exhausted_at), f.misses_target
            )
        )
    if not math.isfinite(spent):
        return json.dumps(details_of(found, method))
    unit = "events" if method == "occurrences" else "slices"
    return _encode(_Details(unit, found.excluded_minutes, found.observed_minutes, rates, alerts, forecasts)).decode()


def read_alike(objective: Objective, planned: Plan, source: tuple[int, str, str]) -> tuple[Any, ...]:
    """All `judging.read` reads for a batched objective (a plan without version segments): equal keys, equal readings.

    `source` names the tallies read (the signed ranges, which carry the counted parts, maintenance and
    observed spans, and the series); the window's zone is in the key, as equal instants print apart.
    The target and at-risk rule are not: objectives differing only in those share one reading.
    """
    bounds = planned.bounds
    return (
        source,
        bounds,
        bounds.start.tzinfo,
        bounds.end.tzinfo,
        planned.now_end,
        id(planned.policy),  # the plans (alive for the whole chunk) share one policy per distinct policy
        tuple(planned.forecast_lookbacks),
        tuple(planned.wanted),
        tuple(planned.excluded),
        id(planned.ranges),
        objective.window_kind,
        json.dumps(objective.observed, sort_keys=True) if objective.observed else None,
    )
