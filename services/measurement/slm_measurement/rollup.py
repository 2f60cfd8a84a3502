"""Checking a decoded batch (all or nothing) and pre-aggregating it into minute buckets in memory."""

from __future__ import annotations

import math
import operator
from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import islice, repeat

from slm_measurement.domain.histogram import bin_of
from slm_measurement.domain.windows import MINUTE
from slm_measurement.ingest import Batch, ColumnarBatch, Columns, Point
from slm_measurement.thresholds import Thresholds, counted_series
from slm_shared.contracts.targets import is_good
from slm_shared.errors import FieldError, Unprocessable

MAX_ERRORS = 50
KIND_MESSAGE = "give good and total, a value, or up (exactly one kind)"

CountKey = tuple[str, str, str, int]
BinKey = tuple[str, str, str, int, int]


@dataclass
class Rollup:
    """A batch summed per (service, indicator, scope, minute): counts, and value samples per bin."""

    counts: dict[CountKey, list[float]] = field(default_factory=dict)
    bins: dict[BinKey, float] = field(default_factory=dict)
    points: int = 0

    def coarser(self, seconds: int) -> tuple[dict[CountKey, list[float]], dict[BinKey, float]]:
        """The same sums in buckets of `seconds` (hours or days)."""
        factor = seconds // MINUTE
        counts: dict[CountKey, list[float]] = {}
        for (service, indicator, scope, minute), (good, total) in self.counts.items():
            sums = counts.setdefault((service, indicator, scope, minute // factor), [0.0, 0.0])
            sums[0] += good
            sums[1] += total
        bins: dict[BinKey, float] = {}
        for (service, indicator, scope, minute, index), count in self.bins.items():
            key = (service, indicator, scope, minute // factor, index)
            bins[key] = bins.get(key, 0.0) + count
        return counts, bins

    def series(self) -> set[tuple[str, str]]:
        """The (service, indicator) pairs the batch touched."""
        return {k[:2] for k in self.counts} | {k[:2] for k in self.bins}


class _Checker:
    def __init__(self, now: datetime, max_lateness: timedelta, max_future: timedelta) -> None:
        self.oldest = (now - max_lateness).timestamp()
        self.newest = (now + max_future).timestamp()
        self.lateness, self.future = int(max_lateness.total_seconds()), int(max_future.total_seconds())
        self.errors: list[FieldError] = []

    def add(self, name: str, message: str, kind: str = "value_error") -> None:
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(FieldError(field=name, message=message, type=kind))

    def instant(self, name: str, second: float) -> None:
        if second < self.oldest:
            self.add(name, f"older than the lateness limit of {self.lateness} s", "too_late")
        elif second > self.newest:
            self.add(name, f"more than {self.future} s in the future", "too_early")

    def raise_if_any(self) -> None:
        if self.errors:
            shown = "; ".join(f"{e.field}: {e.message}" for e in self.errors[:5])
            raise Unprocessable(f"The batch was refused, nothing was stored: {shown}", errors=self.errors)


def value_series(batch: Batch) -> set[tuple[str, str]]:
    """The (service, indicator) pairs of the batch's values."""
    if isinstance(batch, ColumnarBatch):
        return {(c.service, c.indicator) for c in batch.series if c.values is not None}
    return {(p.service, p.indicator) for p in batch if p.value is not None}


def roll_up(
    batch: Batch,
    *,
    now: datetime,
    max_lateness: timedelta,
    max_future: timedelta,
    thresholds: Thresholds | None = None,
) -> Rollup:
    """Check every point (refusing the whole batch on any error) and sum them into minute buckets.

    Values are binned, and counted good/total against each of `thresholds` for their series.
    """
    checker = _Checker(now, max_lateness, max_future)
    rollup = Rollup()
    if isinstance(batch, ColumnarBatch):
        for index, columns in enumerate(batch.series):
            _add_columns(rollup, columns, f"series[{index}]", checker, thresholds or {})
    else:
        _add_rows(rollup, batch, checker, thresholds or {})
    checker.raise_if_any()
    return rollup


def _add_rows(rollup: Rollup, points: list[Point], checker: _Checker, thresholds: Thresholds) -> None:
    counts, bins = rollup.counts, rollup.bins
    for index, point in enumerate(points):
        stamp = point.timestamp
        if stamp.tzinfo is None:
            checker.add(f"[{index}].timestamp", "an RFC 3339 timestamp with a UTC offset is required")
            continue
        second = stamp.timestamp()
        checker.instant(f"[{index}].timestamp", second)
        minute = int(second // MINUTE)
        if point.good is not None or point.total is not None:
            good, total = point.good, point.total
            if good is None or total is None or point.value is not None or point.up is not None:
                checker.add(f"[{index}]", KIND_MESSAGE)
            elif not (math.isfinite(good) and math.isfinite(total)):
                checker.add(f"[{index}].total", "counts must be finite")
            elif good > total:
                checker.add(f"[{index}].good", "good must not exceed total")
            else:
                sums = counts.setdefault((point.service, point.indicator, point.scope, minute), [0.0, 0.0])
                sums[0] += good
                sums[1] += total
        elif point.value is not None:
            if point.up is not None or not math.isfinite(point.value):
                checker.add(f"[{index}].value", "a finite value, and no other kind")
            else:
                key = (point.service, point.indicator, point.scope, minute, bin_of(point.value))
                bins[key] = bins.get(key, 0.0) + 1
                for op, limit in thresholds.get((point.service, point.indicator), ()):
                    counted = (point.service, counted_series(point.indicator, op, limit), point.scope, minute)
                    sums = counts.setdefault(counted, [0.0, 0.0])
                    sums[0] += 1.0 if is_good(point.value, op, limit) else 0.0
                    sums[1] += 1.0
        elif point.up is not None:
            sums = counts.setdefault((point.service, point.indicator, point.scope, minute), [0.0, 0.0])
            sums[0] += 1.0 if point.up else 0.0
            sums[1] += 1.0
        else:
            checker.add(f"[{index}]", KIND_MESSAGE)
    rollup.points += len(points)


def _first_outside(timestamps: list[float], checker: _Checker) -> int | None:
    if not timestamps or (min(timestamps) >= checker.oldest and max(timestamps) <= checker.newest):
        return None
    return next(i for i, t in enumerate(timestamps) if not checker.oldest <= t <= checker.newest)


def _add_columns(rollup: Rollup, columns: Columns, prefix: str, checker: _Checker, thresholds: Thresholds) -> None:
    stamps = columns.timestamps
    given = [name for name in ("good", "total", "values", "up") if getattr(columns, name) is not None]
    if given not in (["good", "total"], ["values"], ["up"]):
        checker.add(prefix, "give good and total, values, or up (exactly one kind)")
        return
    for name in given:
        if len(getattr(columns, name)) != len(stamps):
            checker.add(f"{prefix}.{name}", f"has {len(getattr(columns, name))} items for {len(stamps)} timestamps")
            return
    if (late := _first_outside(stamps, checker)) is not None:
        checker.instant(f"{prefix}.timestamps[{late}]", stamps[late])
        return
    key = (columns.service, columns.indicator, columns.scope)
    if columns.values is not None:
        if _add_values(rollup, key, stamps, columns.values, prefix, checker):
            for op, limit in thresholds.get(key[:2], ()):
                good = [1.0 if is_good(value, op, limit) else 0.0 for value in columns.values]
                counted = (columns.service, counted_series(columns.indicator, op, limit), columns.scope)
                _add_counts(rollup, counted, _per_minute(stamps, good, [1.0] * len(good)))
    else:
        if columns.up is not None:
            good = [1.0 if up else 0.0 for up in columns.up]
            total = [1.0] * len(good)
        else:
            good, total = columns.good or [], columns.total or []
            if not _counts_ok(good, total, prefix, checker):
                return
        _add_counts(rollup, key, _per_minute(stamps, good, total))
    rollup.points += len(stamps)


def _add_counts(rollup: Rollup, key: tuple[str, str, str], per_minute: list[tuple[int, float, float]]) -> None:
    counts = rollup.counts
    for minute, g, t in per_minute:
        sums = counts.setdefault((*key, minute), [0.0, 0.0])
        sums[0] += g
        sums[1] += t


def _per_minute(stamps: list[float], good: list[float], total: list[float]) -> list[tuple[int, float, float]]:
    """Sum good and total per minute; a time-ordered series (the usual case) takes a fast path."""
    minutes = list(map(operator.floordiv, stamps, repeat(MINUTE)))
    if all(map(operator.le, minutes, islice(minutes, 1, None))):
        sums = []
        index, size = 0, len(minutes)
        while index < size:
            minute = minutes[index]
            stop = bisect_right(minutes, minute, index)
            sums.append((int(minute), sum(good[index:stop]), sum(total[index:stop])))
            index = stop
        return sums
    per_minute: dict[int, list[float]] = {}
    for minute, g, t in zip(minutes, good, total, strict=True):
        found = per_minute.get(minute)
        if found is None:
            per_minute[minute] = [g, t]
        else:
            found[0] += g
            found[1] += t
    return [(int(minute), g, t) for minute, (g, t) in per_minute.items()]


def _counts_ok(good: list[float], total: list[float], prefix: str, checker: _Checker) -> bool:
    if good and (min(good) < 0 or min(total) < 0):
        name, values = ("good", good) if min(good) < 0 else ("total", total)
        checker.add(f"{prefix}.{name}[{next(i for i, v in enumerate(values) if v < 0)}]", "must not be negative")
        return False
    if not (math.isfinite(sum(good)) and math.isfinite(sum(total))):
        checker.add(f"{prefix}.total", "counts must be finite")
        return False
    if any(map(operator.gt, good, total)):
        index = next(i for i, (g, t) in enumerate(zip(good, total, strict=True)) if g > t)
        checker.add(f"{prefix}.good[{index}]", "good must not exceed total")
        return False
    return True


def _add_values(
    rollup: Rollup, key: tuple[str, str, str], stamps: list[float], values: list[float], prefix: str, checker: _Checker
) -> bool:
    if values and (min(values) < 0 or not all(map(math.isfinite, values))):
        bad = next(i for i, v in enumerate(values) if not (v >= 0 and math.isfinite(v)))
        checker.add(f"{prefix}.values[{bad}]", "values must be finite and not negative")
        return False
    bins = rollup.bins
    for stamp, value in zip(stamps, values, strict=True):
        bin_key = (*key, int(stamp // MINUTE), bin_of(value))
        bins[bin_key] = bins.get(bin_key, 0.0) + 1
    return True
