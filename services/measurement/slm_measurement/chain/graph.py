"""Walking the dependency graph, down (what a service runs on) or up (what runs on it), every level."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

MAX_DEPTH = 20
COMPOSABLE_KINDS = frozenset({"ratio", "threshold", "timeslice"})


@dataclass(frozen=True)
class Reached:
    """A service reached from the start, at its shallowest depth, and the path to it."""

    key: str
    depth: int
    path: tuple[str, ...]


def walk(edges: Iterable[tuple[str, str]], start: str, *, up: bool = False) -> list[Reached]:
    """Every service below `start` (or above it with `up`), breadth first, each once; cycles are cut."""
    graph: dict[str, list[str]] = {}
    for service, supporting in edges:
        source, target = (supporting, service) if up else (service, supporting)
        graph.setdefault(source, []).append(target)
    found: dict[str, Reached] = {}
    frontier: list[tuple[str, tuple[str, ...]]] = [(start, (start,))]
    for depth in range(1, MAX_DEPTH + 1):
        following = []
        for node, path in frontier:
            for target in sorted(graph.get(node, [])):
                if target != start and target not in found:
                    found[target] = Reached(target, depth, (*path, target))
                    following.append((target, (*path, target)))
        if not following:
            break
        frontier = following
    return list(found.values())


def composable(sla_kind: str, sla_indicator: str, supporting_kind: str, supporting_indicator: str) -> bool:
    """Whether a supporting objective's bad share adds into the SLA objective's (same indicator, shares of good)."""
    return (
        sla_kind in COMPOSABLE_KINDS
        and supporting_kind in COMPOSABLE_KINDS
        and sla_indicator.split("#")[0] == supporting_indicator.split("#")[0]
    )


def contribution(sla_attainment: float | None, supporting_attainment: float | None) -> float | None:
    """The share of the SLA objective's bad events (or slices) the supporting one accounts for, at most 1.

    In a chain each service's failures pass up: the SLA's bad share is at least each supporting bad share.
    """
    if sla_attainment is None or supporting_attainment is None:
        return None
    sla_bad = 1.0 - sla_attainment
    if sla_bad <= 0:
        return 0.0
    return min(max(1.0 - supporting_attainment, 0.0) / sla_bad, 1.0)
