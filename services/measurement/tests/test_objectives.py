"""The objectives read model and its API: versions, ends, visibility and forced evaluation."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from measurement_support import activation, ended, points

from slm_measurement import read_model
from slm_measurement.domain.windows import WindowError
from slm_shared.contracts.payloads_v2 import AgreementActivatedV2
from slm_shared.testing.pytest_plugin import make_token

CUSTOMER_A = {"Authorization": f"Bearer {make_token('acme', roles=('customer',), party='party-a')}"}
CUSTOMER_B = {"Authorization": f"Bearer {make_token('acme', roles=('customer',), party='party-b')}"}
OTHER_TENANT = {"Authorization": f"Bearer {make_token('globex')}"}


async def activate(app: FastAPI, agreement: AgreementActivatedV2) -> bool:
    async with app.state.db.session() as session:
        return await read_model.apply_activation(session, tenant="acme", agreement=agreement)


async def listed(client: httpx.AsyncClient, **params: object) -> dict:
    response = await client.get("/v1/objectives", params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_newer_version_replaces_the_older_objectives(app_client: tuple[FastAPI, httpx.AsyncClient]) -> None:
    app, client = app_client
    window = {"kind": "calendar", "unit": "month", "timezone": "Europe/Lisbon"}
    v1 = activation(
        objectives=[
            {"objective_id": "availability", "indicator": "availability", "target": 0.99, "window": window},
            {"objective_id": "latency", "indicator": "latency", "target": 0.95, "window": window},
        ]
    )
    await activate(app, v1)
    first = await listed(client, agreement_id=v1.agreement_id)
    assert first["total"] == 2
    v2 = activation(
        agreement_id=v1.agreement_id,
        version=2,
        objectives=[
            {"objective_id": "availability", "indicator": "availability", "target": 0.995, "window": window},
        ],
    )
    assert await activate(app, v2)
    assert not await activate(app, v1), "an older version must not win over a newer one"
    current = await listed(client, agreement_id=v1.agreement_id)
    assert current["total"] == 1
    item = current["items"][0]
    assert item["target"] == 0.995 and item["agreement_version"] == 2
    assert item["id"] == next(i["id"] for i in first["items"] if i["objective_id"] == "availability")
    assert (await listed(client, agreement_id=v1.agreement_id, active=False))["total"] == 1

    async with app.state.db.session() as session:
        assert await read_model.apply_end(session, tenant="acme", ended=ended(v1.agreement_id, 1)) == 0
        assert await read_model.apply_end(session, tenant="acme", ended=ended(v1.agreement_id, 2)) == 1
    assert (await listed(client, agreement_id=v1.agreement_id))["total"] == 0
    refused = await client.post(f"/v1/objectives/{item['id']}/evaluate")
    assert refused.status_code == 409


async def test_invalid_windows_are_refused_at_activation(app_client: tuple[FastAPI, httpx.AsyncClient]) -> None:
    app, _ = app_client
    bad = activation(
        objectives=[
            {
                "objective_id": "a",
                "indicator": "a",
                "target": 0.9,
                "window": {"kind": "calendar", "unit": "month", "timezone": "Nowhere/City"},
            }
        ]
    )
    with pytest.raises(WindowError, match="objective a"):
        await activate(app, bad)


async def test_visibility_filters_and_forced_evaluation(app_client: tuple[FastAPI, httpx.AsyncClient]) -> None:
    app, client = app_client
    mine = activation(service_key="payments", party="party-a")
    theirs = activation(service_key="search", party="party-b")
    await activate(app, mine)
    await activate(app, theirs)
    assert (await listed(client))["total"] == 2
    assert (await listed(client, service="search"))["items"][0]["agreement_id"] == theirs.agreement_id
    customer = (await client.get("/v1/objectives", headers=CUSTOMER_A)).json()
    assert [i["agreement_id"] for i in customer["items"]] == [mine.agreement_id]
    other_id = (await listed(client, service="search"))["items"][0]["id"]
    assert (await client.get(f"/v1/objectives/{other_id}", headers=CUSTOMER_A)).status_code == 404
    assert (await client.get(f"/v1/objectives/{other_id}", headers=CUSTOMER_B)).status_code == 200
    assert (await client.get(f"/v1/objectives/{other_id}", headers=OTHER_TENANT)).status_code == 404
    assert (await client.get("/v1/objectives", headers=OTHER_TENANT)).json()["total"] == 0
    assert (await client.post(f"/v1/objectives/{other_id}/evaluate", headers=CUSTOMER_B)).status_code == 403
    assert (await client.get("/v1/objectives", params={"status": "nonsense"})).status_code == 422

    objective_id = (await listed(client, service="payments"))["items"][0]["id"]
    await client.post("/v1/measurements", json=points("payments", 995, 1000, minutes_ago=3))
    await client.post("/v1/measurements", json=points("payments", 3, 5, minutes_ago=60 * 30))  # outside 1d
    result = await client.post(f"/v1/objectives/{objective_id}/evaluate")
    assert result.status_code == 200, result.text
    body = result.json()
    assert body["status"] == "healthy" and body["good"] == 995 and body["total"] == 1000
    assert body["budget"]["total"] == pytest.approx(0.01) and body["budget"]["remaining_ratio"] == pytest.approx(0.5)
    assert body["window_start"] < body["window_end"]
    assert (await listed(client, status="healthy"))["total"] == 1
    assert (await client.post("/v1/objectives/missing/evaluate")).status_code == 404
