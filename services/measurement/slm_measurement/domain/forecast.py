"""Where the window is heading at the current burn: budget exhaustion and attainment at its end.

Quantities are counts (events, or slices for the timeslice methods). `bad` means budget spent:
total - good. The lookback gives the current rates.

- Calendar windows accumulate: at now + x, total = T + rate * x and bad = B + bad_rate * x; the
  forecast horizon is the window's end.
- Rolling windows slide: as new data at the current rates comes in, the oldest part of the window
  (assumed to look like the window's average) drops out; the horizon is one window length ahead,
  when the whole window has turned over.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from slm_measurement.domain.budget import Tally, bad_share, budget_total, meets


@dataclass(frozen=True, slots=True)
class Forecast:
    """The outlook at the current burn over `lookback`."""

    lookback: timedelta
    horizon_end: datetime
    expected_attainment: float | None
    budget_exhausted_at: datetime | None
    misses_target: bool


def _bad(tally: Tally) -> float:
    return bad_share(tally.good / tally.total) * tally.total if tally.total > 0 else 0.0


@dataclass(frozen=True, slots=True)
class Projection:
    """What a forecast projects whatever the target: the window at its horizon at the current rates.

    Objectives reading the same tallies over the same window share one projection; each target
    then only works out its own budget's exhaustion and whether the expected attainment misses it
    (`outlook`).
    """

    lookback: timedelta
    horizon_end: datetime
    expected_attainment: float | None
    now: datetime
    total: float
    bad: float
    rate: float
    bad_rate: float
    horizon: float
    window: float | None  # the window's length in seconds when it rolls, else None


def projection(
    *,
    rolling: bool,
    now: datetime,
    window_start: datetime,
    window_end: datetime,
    window: Tally,
    recent: Tally,
    lookback: timedelta,
) -> Projection:
    """Project the window from its tally so far and the recent tally over `lookback` (no target)."""
    seconds = lookback.total_seconds()
    rate = recent.total / seconds if seconds > 0 else 0.0
    bad_rate = _bad(recent) / seconds if seconds > 0 else 0.0
    total, bad = window.total, _bad(window)
    length = (window_end - window_start).total_seconds()
    if rolling:
        horizon = length
        # after one window length, only data at the current rates is left in it
        end_total, end_bad = (rate * horizon, bad_rate * horizon) if rate > 0 else (total, bad)
    else:
        horizon = max((window_end - now).total_seconds(), 0.0)
        end_total, end_bad = total + rate * horizon, bad + bad_rate * horizon
    return Projection(
        lookback=lookback,
        horizon_end=now + timedelta(seconds=horizon),
        expected_attainment=None if end_total <= 0 else 1.0 - end_bad / end_total,
        now=now,
        total=total,
        bad=bad,
        rate=rate,
        bad_rate=bad_rate,
        horizon=horizon,
        window=length if rolling else None,
    )


def outlook(projected: Projection, target: float) -> Forecast:
    """The forecast of a projection against `target`: when its budget runs out, whether it is missed."""
    exhausted = _exhaustion(
        total=projected.total,
        bad=projected.bad,
        rate=projected.rate,
        bad_rate=projected.bad_rate,
        budget=budget_total(target),
        horizon=projected.horizon,
        window=projected.window,
    )
    expected = projected.expected_attainment
    return Forecast(
        lookback=projected.lookback,
        horizon_end=projected.horizon_end,
        expected_attainment=expected,
        budget_exhausted_at=None if exhausted is None else projected.now + timedelta(seconds=exhausted),
        misses_target=expected is not None and not meets(expected, target),
    )


def forecast(
    *,
    rolling: bool,
    now: datetime,
    window_start: datetime,
    window_end: datetime,
    window: Tally,
    recent: Tally,
    lookback: timedelta,
    target: float,
) -> Forecast:
    """Project the window from its tally so far and the recent tally over `lookback`."""
    projected = projection(
        rolling=rolling,
        now=now,
        window_start=window_start,
        window_end=window_end,
        window=window,
        recent=recent,
        lookback=lookback,
    )
    return outlook(projected, target)


def _exhaustion(
    *, total: float, bad: float, rate: float, bad_rate: float, budget: float, horizon: float, window: float | None
) -> float | None:
    """Seconds until bad / total first exceeds the budget, within the horizon; None if it does not."""
    headroom = budget * total - bad
    if total > 0 and headroom < 0:
        return 0.0
    if total <= 0 and rate <= 0:
        return None
    # Calendar: bad + bad_rate x = budget (total + rate x).
    # Rolling: bad (1 - x/W) + bad_rate x = budget (total (1 - x/W) + rate x).
    speed = bad_rate - budget * rate + (headroom / window if window else 0.0)
    if speed <= 0:
        return None
    seconds = headroom / speed
    return seconds if seconds <= horizon else None
