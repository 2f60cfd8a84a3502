"""Maintenance windows: the intervals, within a range, that measurement must not count."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from slm_measurement.domain.windows import Bounds, WindowError, floor_minute, zone
from slm_shared.terms import maintenance as shared_maintenance

MAX_OCCURRENCES = 20_000


@dataclass(frozen=True)
class MaintenanceWindow:
    """One-off (`start`, `end`) or recurring (`rrule` from `start`, each `duration_minutes` long)."""

    start: datetime
    end: datetime | None = None
    rrule: str | None = None
    duration_minutes: int | None = None
    timezone: str = "UTC"


def validate(window: MaintenanceWindow) -> None:
    """Raise WindowError when the maintenance window is not a valid term (the shared validator decides)."""
    if window.start.tzinfo is None:
        raise WindowError("a maintenance window's start needs a UTC offset")
    if reason := shared_maintenance.problem(
        {
            "start": window.start.isoformat(),
            "end": window.end.isoformat() if window.end else None,
            "rrule": window.rrule,
            "duration_minutes": window.duration_minutes,
            "timezone": window.timezone,
        }
    ):
        raise WindowError(reason)


def _rule(window: MaintenanceWindow):  # type: ignore[no-untyped-def]
    zone(window.timezone)
    return shared_maintenance.recurrence(window.start, window.rrule or "", window.timezone)


def occurrences(window: MaintenanceWindow, start: datetime, end: datetime) -> list[Bounds]:
    """The window's occurrences overlapping [start, end), unclipped."""
    if not window.rrule:
        assert window.end is not None
        return [Bounds(window.start, window.end)] if window.start < end and window.end > start else []
    length = timedelta(minutes=window.duration_minutes or 0)
    found = []
    for index, first in enumerate(_rule(window).xafter(start - length, inc=True)):
        if first >= end or index >= MAX_OCCURRENCES:
            break
        begins = first.astimezone(UTC)
        found.append(Bounds(begins, begins + length))
    return found


def excluded_intervals(windows: list[MaintenanceWindow], bounds: Bounds) -> list[Bounds]:
    """Sorted, merged, minute-aligned intervals inside `bounds` covered by any maintenance window.

    A partly covered minute counts as covered: its data cannot be split.
    """
    pieces: list[Bounds] = []
    for window in windows:
        for occurrence in occurrences(window, bounds.start, bounds.end):
            lo = max(floor_minute(occurrence.start), bounds.start)
            hi_floor = floor_minute(occurrence.end)
            hi = min(hi_floor if hi_floor == occurrence.end else hi_floor + timedelta(minutes=1), bounds.end)
            if lo < hi:
                pieces.append(Bounds(lo, hi))
    pieces.sort(key=lambda b: b.start)
    merged: list[Bounds] = []
    for piece in pieces:
        if merged and piece.start <= merged[-1].end:
            merged[-1] = Bounds(merged[-1].start, max(merged[-1].end, piece.end))
        else:
            merged.append(piece)
    return merged


def minutes_in(intervals: list[Bounds]) -> set[int]:
    """Epoch minute indices covered by the intervals."""
    covered: set[int] = set()
    for interval in intervals:
        covered.update(range(int(interval.start.timestamp()) // 60, int(interval.end.timestamp()) // 60))
    return covered
