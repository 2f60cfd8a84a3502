"""Each part of a window judged by the terms of the version in force during that part.

When an amendment changes an objective's threshold or target inside a window, the window is cut at
the version boundaries. Each segment's good/total is read against its own version's threshold (the
counted series of that threshold) and its budget is (1 - target_v) x total_v, so the window's budget
is the sum over segments of (1 - target_v) x total_v (good slices and slices for timeslice budgeting).
Attainment stays sum(good_v) / sum(total_v); the target the window is judged against is the one
that makes the budget that sum: 1 - sum((1 - target_v) x total_v) / sum(total_v). With one version
(or versions that agree on the threshold, target and slice rule) nothing is cut and nothing changes.

A threshold is counted from the time an objective with it is known to measurement (see
`thresholds`): a segment whose threshold was not yet tracked counts no events for those minutes,
and its good/total (shown in the working) say so.
"""

from __future__ import annotations

from dataclasses import dataclass

from slm_measurement.agreed import Agreed, defined_by
from slm_measurement.domain.budget import Tally
from slm_measurement.domain.windows import Bounds, floor_minute
from slm_measurement.models import Objective

Counted = dict[str, list[Bounds]]


@dataclass(frozen=True)
class Segment:
    """The parts of every labelled range under one version, and the objective as that version defined it."""

    version: int
    objective: Objective
    parts: Counted


@dataclass(frozen=True)
class SegmentTally:
    """One segment of one range: its version's threshold and target, and what it counted."""

    version: int
    op: str | None
    value: float | None
    target: float
    timeslice_target: float | None
    bounds: list[Bounds]
    tally: Tally


def _terms(objective: Objective) -> tuple[object, ...]:
    return (
        objective.indicator,
        objective.indicator_kind,
        objective.op,
        objective.value,
        objective.target,
        objective.budgeting_method,
        objective.timeslice_seconds,
        objective.timeslice_target,
    )


def _by_version(agreed: Agreed, part: Bounds) -> list[tuple[int, Bounds]]:
    found = []
    for span in agreed.within(part.start, part.end):
        lo = max(floor_minute(span.start), part.start)
        hi = min(floor_minute(span.end) if span.end is not None else part.end, part.end)
        if lo < hi:
            found.append((span.version, Bounds(lo, hi)))
    return found


def segments(objective: Objective, agreed: Agreed | None, counted: Counted | None) -> tuple[Segment, ...] | None:
    """The counted parts cut by version, or None when one set of terms judges them all (nothing to cut)."""
    if agreed is None or counted is None or len(agreed.versions) < 2:
        return None
    cut: dict[int, Counted] = {}
    for label, parts in counted.items():
        for part in parts:
            for version, bounds in _by_version(agreed, part):
                cut.setdefault(version, {}).setdefault(label, []).append(bounds)
    if len(cut) < 2:
        return None
    defined = {version: defined_by(objective, agreed, version) for version in cut}
    if len({_terms(o) for o in defined.values()}) < 2:
        return None
    labels = list(counted)
    return tuple(
        Segment(version, defined[version], {label: cut[version].get(label, []) for label in labels})
        for version in sorted(cut)
    )


def combined(
    objective: Objective, found: list[tuple[Segment, dict[str, Tally]]]
) -> tuple[dict[str, Tally], dict[str, float], dict[str, list[SegmentTally]]]:
    """Per label: the summed tally, the target whose budget is the sum of the segments' budgets, and the segments."""
    labels = list(found[0][0].parts) if found else []
    tallies: dict[str, Tally] = {}
    targets: dict[str, float] = {}
    detail: dict[str, list[SegmentTally]] = {}
    for label in labels:
        total, allowed = Tally(0.0, 0.0), 0.0
        rows = []
        for segment, tally in found:
            part = tally.get(label, Tally(0.0, 0.0))
            total = total + part
            allowed += (1.0 - segment.objective.target) * part.total
            if segment.parts[label]:
                defined = segment.objective
                rows.append(
                    SegmentTally(
                        segment.version,
                        defined.op,
                        defined.value,
                        defined.target,
                        defined.timeslice_target,
                        segment.parts[label],
                        part,
                    )
                )
        tallies[label] = total
        targets[label] = 1.0 - allowed / total.total if total.total > 0 else objective.target
        detail[label] = rows
    return tallies, targets, detail
