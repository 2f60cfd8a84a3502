"""Pure dependency-graph rules: cycles and reachability over (dependent, supporting) edges."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping


def adjacency(edges: Iterable[tuple[str, str]], *, reverse: bool = False) -> dict[str, list[str]]:
    """Node to its neighbours: supporting services, or dependents when `reverse`."""
    graph: dict[str, list[str]] = {}
    for dependent, supporting in edges:
        source, target = (supporting, dependent) if reverse else (dependent, supporting)
        graph.setdefault(source, []).append(target)
    for neighbours in graph.values():
        neighbours.sort()
    return graph


def path_between(graph: Mapping[str, list[str]], start: str, goal: str) -> list[str] | None:
    """The shortest path from start to goal following the edges, or None."""
    previous: dict[str, str | None] = {start: None}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        if node == goal:
            path = [node]
            while (step := previous[path[-1]]) is not None:
                path.append(step)
            return path[::-1]
        for neighbour in graph.get(node, ()):
            if neighbour not in previous:
                previous[neighbour] = node
                queue.append(neighbour)
    return None


def cycle_if_added(edges: Iterable[tuple[str, str]], dependent: str, supporting: str) -> list[str] | None:
    """The cycle (first node repeated at the end) that the new edge would close, or None."""
    if dependent == supporting:
        return [dependent, dependent]
    back = path_between(adjacency(edges), supporting, dependent)
    return [dependent, *back] if back else None


def reachable(graph: Mapping[str, list[str]], start: str, *, transitive: bool) -> dict[str, int]:
    """Every node reachable from start (start excluded) with its shortest distance."""
    depth: dict[str, int] = {start: 0}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        if not transitive and depth[node] >= 1:
            continue
        for neighbour in graph.get(node, ()):
            if neighbour not in depth:
                depth[neighbour] = depth[node] + 1
                queue.append(neighbour)
    depth.pop(start)
    return depth
