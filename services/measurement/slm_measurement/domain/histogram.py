"""A compact log-scale histogram of values: sparse bins whose bounds grow by 2% each.

Bin `i` holds the values in (GAMMA**(i-1), GAMMA**i]; every value at or below MIN_VALUE goes to
ZERO_BIN. Counts in bins are additive, so minute histograms sum exactly into hours and days, and
a ratio under any threshold or a percentile is answered within the 2% width of one bin.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

GAMMA = 1.02
MIN_VALUE = 1e-6
ZERO_BIN = -(2**20)
_LOG_GAMMA = math.log(GAMMA)


def bin_of(value: float) -> int:
    """The bin holding `value`."""
    if value <= MIN_VALUE:
        return ZERO_BIN
    return math.ceil(math.log(value) / _LOG_GAMMA - 1e-9)


def bin_upper(index: int) -> float:
    """The largest value bin `index` may hold."""
    return 0.0 if index == ZERO_BIN else GAMMA**index


def bin_value(index: int) -> float:
    """The value a bin stands for: the point of least relative error within it."""
    if index == ZERO_BIN:
        return 0.0
    return 2 * GAMMA**index / (1 + GAMMA)


def histogram(values: Iterable[float]) -> dict[int, int]:
    """Counts per bin of some values."""
    bins: dict[int, int] = {}
    for value in values:
        index = bin_of(value)
        bins[index] = bins.get(index, 0) + 1
    return bins


def merge(histograms: Iterable[Mapping[int, float]]) -> dict[int, float]:
    """The sum of several histograms."""
    total: dict[int, float] = {}
    for bins in histograms:
        for index, count in bins.items():
            total[index] = total.get(index, 0) + count
    return total


def count_at_or_below(bins: Mapping[int, float], threshold: float) -> float:
    """How many values are at or below `threshold` (values in the threshold's own bin count as below)."""
    limit = bin_of(threshold)
    return sum(count for index, count in bins.items() if index <= limit)


def quantile(bins: Mapping[int, float], q: float) -> float | None:
    """The value below which a share `q` (0..1) of the values lie, or None for no values."""
    if not 0 <= q <= 1:
        raise ValueError("q must be between 0 and 1")
    total = sum(bins.values())
    if total <= 0:
        return None
    rank = q * total
    seen = 0.0
    ordered = sorted(bins.items())
    for index, count in ordered:
        seen += count
        if seen >= rank and count > 0:
            return bin_value(index)
    return bin_value(ordered[-1][0])
