"""A URL is kept in a column of `URL_MAX_LENGTH` characters: a longer one (as stored, after percent-encoding) is
refused with a 422 naming its field, on SQLite and PostgreSQL alike; on PostgreSQL it was a 500 (the write refused).
The longest one is stored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from fastapi import FastAPI
from measurement_support import activation

from slm_measurement import read_model, terms
from slm_shared.terms.openslo_credentials import URL_MAX_LENGTH
from slm_shared.testing.pytest_plugin import make_token

BASE = "https://example.com/"


def refused_naming(response: httpx.Response, field: str) -> None:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in response.json()["errors"]] == [field], response.text


async def test_an_evidence_url_longer_than_its_column_is_refused(app_client: tuple[FastAPI, httpx.AsyncClient]) -> None:
    app, client = app_client
    agreement = activation(party="party-a")
    agreement.effective_from = datetime.now(UTC) - timedelta(hours=1)
    async with app.state.db.session() as session:
        await read_model.apply_activation(session, tenant="acme", agreement=agreement)
        await terms.store_activation(session, tenant="acme", agreement=agreement, at=agreement.effective_from)
    customer = {"Authorization": f"Bearer {make_token('acme', ('customer',), party='party-a')}"}
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    observation = {"summary": "down", "start": (now - timedelta(minutes=5)).isoformat(), "end": now.isoformat()}
    created = await client.post(
        f"/v1/agreements/{agreement.agreement_id}/observations", json=observation, headers=customer
    )
    assert created.status_code == 201, created.text
    path = f"/v1/observations/{created.json()['id']}/annotations"

    longest = BASE + "a" * (URL_MAX_LENGTH - len(BASE))
    stored = await client.post(path, json={"note": "evidence", "evidence_url": longest})
    assert stored.status_code == 201 and stored.json()["evidence_url"] == longest, stored.text
    refused_naming(await client.post(path, json={"note": "n", "evidence_url": longest + "a"}), "evidence_url")
    # under the bound as sent, over it as stored: each space is kept as %20
    encoded = BASE + "x y" * (URL_MAX_LENGTH // 4)
    assert len(encoded) < URL_MAX_LENGTH
    refused_naming(await client.post(path, json={"note": "n", "evidence_url": encoded}), "evidence_url")


async def test_a_data_source_url_longer_than_its_column_is_refused(
    app_client: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    _, client = app_client
    base = "http://prometheus.example:9090/"
    longest = base + "p" * (URL_MAX_LENGTH - len(base))
    refused_naming(await client.post("/v1/datasources", json={"name": "prom", "url": longest + "p"}), "url")
    created = await client.post("/v1/datasources", json={"name": "prom", "url": longest})
    assert created.status_code == 201 and created.json()["url"] == longest, created.text


async def test_openapi_states_the_url_bound_the_server_keeps(app_client: tuple[FastAPI, httpx.AsyncClient]) -> None:
    """The schema says the bound the server refuses past (pydantic's `HttpUrl` said 2083, `AnyHttpUrl` nothing)."""
    _, client = app_client
    schemas = (await client.get("/openapi.json")).json()["components"]["schemas"]
    evidence = schemas["AnnotationCreate"]["properties"]["evidence_url"]["anyOf"][0]
    assert evidence["maxLength"] == URL_MAX_LENGTH
    assert schemas["DataSourceCreate"]["properties"]["url"]["maxLength"] == URL_MAX_LENGTH
