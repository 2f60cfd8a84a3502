"""A customer reads only the series its agreements measure, and never another party's scope."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from fastapi import FastAPI
from measurement_support import activation, points
from test_evaluation_service import CUSTOMER_A, activate


async def test_a_customer_cannot_read_another_customers_scope(app_client: tuple[FastAPI, httpx.AsyncClient]) -> None:
    app, client = app_client
    await activate(app, activation(service_key="shared", party="party-a"))
    batch = [{**points("shared", 90, 100)[0], "scope": "party-a"}, {**points("shared", 5, 500)[0], "scope": "party-b"}]
    assert (await client.post("/v1/measurements", json=batch)).status_code == 202
    now = datetime.now(UTC)
    params = {
        "service": "shared",
        "indicator": "availability",
        "granularity": "minute",
        "start": (now - timedelta(minutes=10)).isoformat(),
        "end": (now + timedelta(minutes=1)).isoformat(),
    }
    staff = await client.get("/v1/series", params={**params, "scope": "party-b"})
    assert staff.status_code == 200 and staff.json()["buckets"][0]["total"] == 500
    other = await client.get("/v1/series", params={**params, "scope": "party-b"}, headers=CUSTOMER_A)
    assert other.status_code == 404 and "500" not in other.text
    own = await client.get("/v1/series", params={**params, "scope": "party-a"}, headers=CUSTOMER_A)
    assert own.status_code == 200 and own.json()["buckets"][0]["total"] == 100
