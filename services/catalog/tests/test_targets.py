"""A tier's targets in the one shape: refused with the field named when `op`, `target` or `value` is wrong."""

from __future__ import annotations

import json

import httpx
from conftest import new_service, tier

LATENCY = {
    "indicator": "latency",
    "op": "lte",
    "value": 500,
    "target": 0.95,
    "window": {"kind": "rolling", "duration": "28d"},
}


async def _refused_field(client: httpx.AsyncClient, service_id: str, target: dict[str, object]) -> str:
    body = tier("Gold", "10", 0.99)
    body["targets"] = [target]
    content = json.dumps(body).replace('"value": 1e999', '"value": Infinity')
    refused = await client.post(
        f"/v1/services/{service_id}/offerings", content=content, headers={"content-type": "application/json"}
    )
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    return str(refused.json()["errors"][0]["field"])


async def test_bad_targets_name_the_field(client: httpx.AsyncClient) -> None:
    service = await new_service(client, "api")
    assert await _refused_field(client, service["id"], {**LATENCY, "op": "<="}) == "targets.0.op"
    assert await _refused_field(client, service["id"], {**LATENCY, "target": 1.5}) == "targets.0.target"
    assert await _refused_field(client, service["id"], {**LATENCY, "target": 0}) == "targets.0.target"
    assert await _refused_field(client, service["id"], {**LATENCY, "value": 1e999}) == "targets.0.value"
    assert await _refused_field(client, service["id"], {**LATENCY, "objective": 0.95}) == "targets.0.objective"
    without_op = {k: v for k, v in LATENCY.items() if k != "op"}
    assert await _refused_field(client, service["id"], without_op) == "targets.0.op"


async def test_a_tier_keeps_op_value_and_target(client: httpx.AsyncClient) -> None:
    service = await new_service(client, "web")
    body = tier("Gold", "10", 0.99)
    body["targets"] = [LATENCY]
    created = await client.post(f"/v1/services/{service['id']}/offerings", json=body)
    assert created.status_code == 201, created.text
    [target] = created.json()["targets"]
    assert (target["op"], target["value"], target["target"], target["indicator_kind"]) == (
        "lte",
        500,
        0.95,
        "threshold",
    )
