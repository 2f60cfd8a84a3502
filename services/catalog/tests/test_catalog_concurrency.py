"""If-Match is atomic on PostgreSQL: of two updates sent at once with one ETag, exactly one wins."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from conftest import new_service


@pytest.fixture
def database_url(postgres_url: str) -> str:
    return postgres_url


async def _race(client: httpx.AsyncClient, method: str, path: str, bodies: list[dict[str, object]]) -> list[int]:
    current = await client.get(path)
    assert current.status_code == 200, current.text
    etag = current.headers["ETag"]
    responses = await asyncio.gather(
        *(client.request(method, path, json=body, headers={"If-Match": etag}) for body in bodies)
    )
    return sorted(r.status_code for r in responses)


async def test_same_etag_twice_gives_one_success_and_one_412(client: httpx.AsyncClient) -> None:
    for round_ in range(5):
        created = await new_service(client, f"svc-{round_}")
        path = f"/v1/services/{created['id']}"
        codes = await _race(client, "PATCH", path, [{"name": "First"}, {"name": "Second"}])
        assert codes == [200, 412], codes
        final = (await client.get(path)).json()
        assert final["version"] == created["version"] + 1 and final["name"] in ("First", "Second")


async def test_indicator_updates_are_atomic(client: httpx.AsyncClient) -> None:
    created = await client.post(
        "/v1/indicators", json={"key": "queue-wait", "name": "Queue wait", "kind": "threshold", "unit": "ms"}
    )
    assert created.status_code == 201, created.text
    codes = await _race(client, "PATCH", "/v1/indicators/queue-wait", [{"name": "A"}, {"name": "B"}])
    assert codes == [200, 412], codes


async def test_opposite_dependencies_added_at_once_make_no_cycle(client: httpx.AsyncClient) -> None:
    for round_ in range(5):
        a, b = (await new_service(client, f"a-{round_}"))["id"], (await new_service(client, f"b-{round_}"))["id"]
        responses = await asyncio.gather(
            client.post(f"/v1/services/{a}/dependencies", json={"supporting_service_id": b}),
            client.post(f"/v1/services/{b}/dependencies", json={"supporting_service_id": a}),
        )
        assert sorted(r.status_code for r in responses) == [201, 409], [r.text for r in responses]
        supporting = (await client.get(f"/v1/services/{a}/supporting")).json()
        dependents = (await client.get(f"/v1/services/{a}/dependents", params={"transitive": "false"})).json()
        assert len(supporting) + len(dependents) == 1
