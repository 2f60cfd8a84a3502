"""Customer-observed bad time: the spans an agreement's terms count, applied to an objective's tallies.

Events counted (occurrences): every event measured inside an observed span counts as bad, so the
span's good events are taken off the good count and the total stays. Timeslices: every slice with a
minute inside an observed span is bad, measured or not. Maintenance inside a span stays left out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from slm_measurement.domain.budget import Tally
from slm_measurement.domain.windows import MINUTE, Bounds, clip, floor_minute

OBSERVED = "observed|"


def minute_span(start: datetime, end: datetime) -> Bounds:
    """The whole minutes a span touches (rollups hold minutes)."""
    lo = floor_minute(start)
    hi = floor_minute(end)
    return Bounds(lo, hi if hi == end else hi + timedelta(minutes=1))


def merged(spans: Iterable[Bounds]) -> list[Bounds]:
    """Overlapping or touching spans joined, in order (a minute is never counted twice)."""
    out: list[Bounds] = []
    for span in sorted(spans, key=lambda b: (b.start, b.end)):
        if out and span.start <= out[-1].end:
            out[-1] = Bounds(out[-1].start, max(out[-1].end, span.end))
        else:
            out.append(span)
    return out


def spans_of(stored: Sequence[Mapping[str, Any]] | None) -> list[Bounds]:
    """An objective's stored observed spans ([{start, end}, ...] as ISO text), merged."""
    return merged(Bounds(_instant(item["start"]), _instant(item["end"])) for item in stored or () if item.get("start"))


def _instant(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def observed_ranges(
    ranges: Mapping[str, Bounds], excluded: Sequence[Bounds], observed: Sequence[Bounds]
) -> dict[str, list[tuple[Bounds, int]]]:
    """For each labelled range, the observed spans inside it less maintenance, under an `observed|` label."""
    found: dict[str, list[tuple[Bounds, int]]] = {}
    for label, bounds in ranges.items():
        parts: list[tuple[Bounds, int]] = []
        for span in observed:
            if (inside := clip(span, bounds.start, bounds.end)) is None:
                continue
            parts.append((inside, 1))
            parts.extend((both, -1) for ex in excluded if (both := clip(ex, inside.start, inside.end)) is not None)
        if parts:
            found[OBSERVED + label] = parts
    return found


def reclassify(tallies: Mapping[str, Tally]) -> dict[str, Tally]:
    """The tallies with each range's observed good events counted as bad (its `observed|` label dropped)."""
    out = {label: tally for label, tally in tallies.items() if not label.startswith(OBSERVED)}
    for label, seen in tallies.items():
        if label.startswith(OBSERVED) and (base := out.get(label[len(OBSERVED) :])) is not None:
            out[label[len(OBSERVED) :]] = Tally(max(base.good - seen.good, 0.0), base.total)
    return out


def minutes_of(observed: Sequence[Bounds]) -> set[int]:
    """Minute indices (since the epoch) inside the spans."""
    found: set[int] = set()
    for span in observed:
        found.update(range(int(span.start.timestamp()) // MINUTE, int(span.end.timestamp()) // MINUTE))
    return found


def bad_minutes(
    rows: Sequence[tuple[int, float, float]], observed: set[int], first: int, stop: int
) -> list[tuple[int, float, float]]:
    """Minute rows with every observed minute in [first, stop) bad: no good events, at least one counted."""
    if not observed:
        return list(rows)
    seen = {row[0] for row in rows}
    out = [(m, 0.0, max(t, 1.0)) if m in observed else (m, g, t) for m, g, t in rows]
    out.extend((m, 0.0, 1.0) for m in sorted(observed) if first <= m < stop and m not in seen)
    return sorted(out)


def observed_minutes(observed: Sequence[Bounds], window: Bounds, excluded: Sequence[Bounds]) -> int:
    """Minutes of the window counted bad because the customer observed them (maintenance left out)."""
    total = 0
    for span in observed:
        if (inside := clip(span, window.start, window.end)) is None:
            continue
        total += int((inside.end - inside.start).total_seconds()) // MINUTE
        for ex in excluded:
            if (both := clip(ex, inside.start, inside.end)) is not None:
                total -= int((both.end - both.start).total_seconds()) // MINUTE
    return max(total, 0)
