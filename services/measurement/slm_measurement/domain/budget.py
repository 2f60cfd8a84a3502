"""Attainment and error budget for the three OpenSLO budgeting methods, and burn rates.

- occurrences: attainment is good events / total events in the window;
- timeslices: the window is cut into slices; a slice is good when its own good/total ratio
  meets the slice target; attainment is good slices / slices;
- ratio_timeslices: attainment is the mean of the slices' good/total ratios.
Slices without any event are not counted (neither good nor bad), like maintenance time.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from slm_shared.contracts import targets

K = TypeVar("K")

OCCURRENCES = "occurrences"
TIMESLICES = "timeslices"
RATIO_TIMESLICES = "ratio_timeslices"
BUDGETING_METHODS = (OCCURRENCES, TIMESLICES, RATIO_TIMESLICES)


@dataclass(frozen=True, slots=True)
class Tally:
    """What a range counted: `good` and `total` events, or good slices (or summed ratios) and slices."""

    good: float = 0.0
    total: float = 0.0

    def __add__(self, other: Tally) -> Tally:
        return Tally(self.good + other.good, self.total + other.total)

    def __sub__(self, other: Tally) -> Tally:
        return Tally(self.good - other.good, self.total - other.total)


@dataclass(frozen=True, slots=True)
class ErrorBudget:
    """Budget as fractions of the window's events: total allowed, consumed, remaining."""

    total: float
    consumed: float
    remaining: float

    @property
    def remaining_ratio(self) -> float | None:
        """The share of the budget still left (negative once overspent)."""
        return self.remaining / self.total if self.total > 0 else None


def attainment(good: float, total: float) -> float | None:
    """good / total, or None when nothing was counted."""
    return good / total if total > 0 else None


def meets(value: float, target: float) -> bool:
    """Whether an attainment (share of good events or slices) reaches the target, the least share."""
    return targets.meets(value, target)


def budget_total(target: float) -> float:
    """The error budget as a share of the window: 1 - target."""
    return 1.0 - target


def bad_share(value: float) -> float:
    """The share of bad events (or slices) an attainment leaves: what it spends of the budget."""
    return 1.0 - value


def error_budget(value: float | None, target: float) -> ErrorBudget:
    """The error budget: total, consumed and remaining shares of the window."""
    total = budget_total(target)
    if value is None:
        return ErrorBudget(total=total, consumed=0.0, remaining=total)
    consumed = bad_share(value)
    return ErrorBudget(total=total, consumed=consumed, remaining=total - consumed)


def burn_rate(tally: Tally, target: float) -> float | None:
    """How fast a range spent budget: its bad share / the budget (1 = exactly on budget; None without either)."""
    value = attainment(tally.good, tally.total)
    return spend_rate(None if value is None else bad_share(value), target)


def _spent(share: float | None, total: float) -> float | None:
    """A bad share as a burn rate against a budget of `total` (None without data or without a budget)."""
    return None if share is None or total <= 0 else share / total


def spend_rate(share: float | None, target: float) -> float | None:
    """A bad share (None without data) as a burn rate against `target`'s budget (None without a budget)."""
    return _spent(share, budget_total(target))


def spend_rates(shares: Iterable[tuple[K, Any, float | None]], target: float) -> dict[K, float | None]:
    """`spend_rate(share, target)` of each (key, label, share), by key: the budget worked out once."""
    total = budget_total(target)
    return {key: _spent(share, total) for key, _, share in shares}


def slice_tally(
    minutes: Iterable[tuple[int, float, float]], *, slice_minutes: int, slice_target: float, method: str
) -> Tally:
    """Slices of `slice_minutes` (aligned to the epoch) from (minute, good, total) rows.

    For `timeslices` the tally is (good slices, slices); for `ratio_timeslices` it is
    (sum of slice ratios, slices), so that good / total is the mean ratio either way.
    """
    slices: dict[int, list[float]] = {}
    for minute, good, total in minutes:
        sums = slices.setdefault(minute // slice_minutes, [0.0, 0.0])
        sums[0] += good
        sums[1] += total
    good_slices = 0.0
    counted = 0
    for good, total in slices.values():
        if total <= 0:
            continue
        counted += 1
        ratio = good / total
        if method == RATIO_TIMESLICES:
            good_slices += ratio
        elif ratio >= slice_target:
            good_slices += 1
    return Tally(good_slices, float(counted))
