"""Dependencies: the graph stays acyclic; queries in both directions, direct and transitive."""

from __future__ import annotations

import httpx
from conftest import CUSTOMER, new_service

from slm_catalog.dependencies.graph import adjacency, cycle_if_added, reachable


def test_graph_rules() -> None:
    edges = [("shop", "payments"), ("payments", "db"), ("shop", "search")]
    assert cycle_if_added(edges, "db", "shop") == ["db", "shop", "payments", "db"]
    assert cycle_if_added(edges, "search", "db") is None
    assert cycle_if_added(edges, "db", "db") == ["db", "db"]
    assert reachable(adjacency(edges), "shop", transitive=True) == {"payments": 1, "search": 1, "db": 2}
    assert reachable(adjacency(edges), "shop", transitive=False) == {"payments": 1, "search": 1}
    assert reachable(adjacency(edges, reverse=True), "db", transitive=True) == {"payments": 1, "shop": 2}


async def test_dependencies_through_the_api(client: httpx.AsyncClient) -> None:
    ids = {key: (await new_service(client, key))["id"] for key in ("shop", "payments", "database", "network")}

    async def link(dependent: str, supporting: str) -> httpx.Response:
        return await client.post(
            f"/v1/services/{ids[dependent]}/dependencies", json={"supporting_service_id": ids[supporting]}
        )

    for dependent, supporting in (("shop", "payments"), ("payments", "database"), ("database", "network")):
        assert (await link(dependent, supporting)).status_code == 201

    cycle = await link("network", "shop")
    assert cycle.status_code == 409
    assert cycle.headers["content-type"] == "application/problem+json"
    assert cycle.json()["cycle"] == ["network", "shop", "payments", "database", "network"]
    assert "network -> shop -> payments -> database -> network" in cycle.json()["detail"]
    assert cycle.json()["errors"][0]["field"] == "supporting_service_id"
    assert (await link("shop", "payments")).status_code == 409

    direct = (await client.get(f"/v1/services/{ids['shop']}/supporting")).json()
    assert [item["key"] for item in direct] == ["payments"]
    transitive = (await client.get(f"/v1/services/{ids['shop']}/supporting", params={"transitive": True})).json()
    assert [(item["key"], item["depth"]) for item in transitive] == [("payments", 1), ("database", 2), ("network", 3)]
    affected = (await client.get(f"/v1/services/{ids['network']}/dependents")).json()
    assert [(item["key"], item["depth"]) for item in affected] == [("database", 1), ("payments", 2), ("shop", 3)]

    removed = await client.delete(f"/v1/services/{ids['payments']}/dependencies/{ids['database']}")
    assert removed.status_code == 204
    assert (await client.get(f"/v1/services/{ids['network']}/dependents")).json()[0]["key"] == "database"
    assert len((await client.get(f"/v1/services/{ids['network']}/dependents")).json()) == 1
    assert (await link("network", "shop")).status_code == 201

    unknown = await client.post(f"/v1/services/{ids['shop']}/dependencies", json={"supporting_service_id": "nope"})
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "supporting_service_id"
    assert (await client.get(f"/v1/services/{ids['shop']}/supporting", headers=CUSTOMER)).status_code == 403
