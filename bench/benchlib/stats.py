"""Min/median/max summaries and ratios of interleaved rounds."""

from __future__ import annotations

import statistics
from collections.abc import Sequence


def percentile(values: Sequence[float], share: float) -> float:
    """The value at `share` (0..1) of the sorted values, nearest rank."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))
    return ordered[index]


def spread(values: Sequence[float], fmt: str = "{:,.0f}") -> str:
    """`min / median / max` of the values."""
    return " / ".join(fmt.format(v) for v in (min(values), statistics.median(values), max(values)))


def ratios(ours: Sequence[float], baseline: Sequence[float]) -> list[float]:
    """Round-by-round ratios ours / baseline (the rounds were interleaved)."""
    return [a / b for a, b in zip(ours, baseline, strict=True)]


def line(label: str, values: Sequence[float], unit: str = "", fmt: str = "{:,.0f}") -> str:
    """One printed figure: label, then min / median / max and the unit."""
    return f"  {label:<44} {spread(values, fmt)} {unit}".rstrip()
