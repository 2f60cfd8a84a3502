"""The dependency graph: which services a service runs on, every level down."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from slm_agreements.catalog import repository
from slm_agreements.catalog.client import CatalogClient
from slm_shared.db import Database


@dataclass(frozen=True)
class SupportingService:
    """A service that another one runs on, directly (depth 1) or further down."""

    id: str
    key: str
    depth: int


def transitive_supporting(edges: Iterable[tuple[str, str, str]], start: str) -> list[SupportingService]:
    """Every service `start` depends on, breadth first, each once at its shallowest depth.

    `edges` are (service_id, supporting_service_id, supporting_service_key).
    """
    graph: dict[str, list[tuple[str, str]]] = {}
    for service_id, supporting_id, supporting_key in edges:
        graph.setdefault(service_id, []).append((supporting_id, supporting_key))
    return _walk(graph, start)


def _walk(graph: Mapping[str, list[tuple[str, str]]], start: str) -> list[SupportingService]:
    found: dict[str, SupportingService] = {}
    frontier, depth = [start], 0
    while frontier:
        depth += 1
        following = []
        for node in frontier:
            for supporting_id, key in sorted(graph.get(node, [])):
                if supporting_id != start and supporting_id not in found:
                    found[supporting_id] = SupportingService(supporting_id, key, depth)
                    following.append(supporting_id)
        frontier = following
    return list(found.values())


async def supporting_services(
    db: Database, client: CatalogClient, *, tenant: str, service_id: str
) -> list[SupportingService]:
    """The services under `service_id`, from the read model, or from the catalog when it holds none for it."""
    async with db.session() as session:
        edges = await repository.dependency_edges(session, tenant=tenant)
    if any(edge.service_id == service_id for edge in edges):
        return transitive_supporting(
            ((e.service_id, e.supporting_service_id, e.supporting_service_key) for e in edges), service_id
        )
    answer = await client.get_any(f"/v1/services/{service_id}/supporting", params={"transitive": "true"})
    if not isinstance(answer, list):
        return []
    return [
        SupportingService(str(item["id"]), str(item.get("key", item["id"])), int(item.get("depth", 1)))
        for item in answer
        if isinstance(item, dict) and item.get("id")
    ]
