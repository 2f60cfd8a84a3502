"""Bad input never reaches a 500 or storage: generated requests against every catalog route."""

from __future__ import annotations

import json

import httpx
import pytest
from conftest import new_service

from slm_shared.testing.fuzz import fuzz, sweep


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url


@pytest.mark.timeout(300)  # some hundred requests through the whole app; slow on a loaded machine
async def test_generated_requests_never_reach_a_5xx(client: httpx.AsyncClient) -> None:
    created = await new_service(client, "payments")
    known = {"service_id": str(created["id"]), "key": "availability"}
    await sweep(client, known=known)
    await fuzz(client, examples=150, known=known)


async def test_deeply_nested_import_is_refused_naming_the_body(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/import", content=b"[" * 50_000, headers={"Content-Type": "application/json"})
    assert response.status_code in (400, 422) and response.headers["content-type"] == "application/problem+json"
    nested = '{"services": ' + "[" * 70 + "1" + "]" * 70 + "}"
    response = await client.post("/v1/import", content=nested, headers={"Content-Type": "application/json"})
    assert response.status_code == 422 and "nested deeper" in response.text


@pytest.mark.parametrize("suspect", [False, True], ids=["route", "body-check"])
async def test_a_body_nested_too_deeply_is_a_422_naming_the_body(client: httpx.AsyncClient, suspect: bool) -> None:
    """A pydantic route's body too deep for `json.loads` (FastAPI's was a 400 naming nothing), or for the shared body
    check's parse (it named `body` as nested deeper than 10000 levels); nothing is stored."""
    nan = ', "x": NaN' if suspect else ""
    body = '{"key": "deep", "name": "Deep", "tags": ' + "[" * 5000 + "]" * 5000 + nan + "}"
    response = await client.post("/v1/services", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 422 and response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"] == [{"field": "body", "message": "nested too deeply", "type": "too_deep"}]
    assert "deep" not in (await client.get("/v1/services")).text


@pytest.mark.parametrize("path", ["/v1/import", "/v1/openslo"])
async def test_a_document_too_deep_or_not_json_names_the_body_as_every_route(
    client: httpx.AsyncClient, path: str
) -> None:
    """The catalogue's own decoding answers as every route does: a JSON document too deep for its parser a 422 naming
    `body` typed `too_deep` (the type was lost), one that is not JSON (or YAML) a 400 naming `body` (it named
    nothing)."""
    json_type, yaml_type = {"Content-Type": "application/json"}, {"Content-Type": "application/yaml"}
    for nan in ("", ', "x": NaN'):  # the route's decoding, the shared body check's
        deep = '{"services": ' + "[" * 5000 + "]" * 5000 + nan + "}"
        response = await client.post(path, content=deep, headers=json_type)
        assert response.status_code == 422 and response.headers["content-type"] == "application/problem+json"
        assert response.json()["errors"] == [{"field": "body", "message": "nested too deeply", "type": "too_deep"}]
    for body, headers, kind in (('{"services": [', json_type, "json"), ("services: [", yaml_type, "yaml")):
        response = await client.post(path, content=body, headers=headers)
        assert response.status_code == 400 and response.headers["content-type"] == "application/problem+json"
        [error] = response.json()["errors"]
        assert error["field"] == "body" and error["type"] == f"{kind}_invalid", response.text
        assert error["message"].startswith(f"not valid {kind.upper()}: "), response.text
    assert (await client.get("/v1/services")).json()["total"] == 0


async def test_non_finite_numbers_are_refused_before_storage(client: httpx.AsyncClient) -> None:
    created = await new_service(client, "latency")
    target = {
        "indicator": "latency",
        "indicator_kind": "threshold",
        "target": 0.95,
        "op": "lte",
        "value": "NaN",
        "window": {"kind": "rolling", "duration": "28d"},
    }
    body = {"name": "Gold", "price": {"amount": "1", "currency": "EUR", "period": "month"}, "targets": [target]}
    for literal in (b"NaN", b"Infinity", b"1e999"):
        raw = json.dumps(body).replace('"NaN"', "NaN").encode().replace(b"NaN", literal)
        response = await client.post(
            f"/v1/services/{created['id']}/offerings", content=raw, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 422, response.text
        assert response.json()["errors"][0]["field"] == "targets.0.value", response.text
    assert (await client.get(f"/v1/services/{created['id']}/offerings")).json()["total"] == 0


async def test_bounds_on_paging_and_timeslices(client: httpx.AsyncClient) -> None:
    for path in ("/v1/services", "/v1/offerings", "/v1/indicators"):
        response = await client.get(path, params={"offset": 2**63})
        assert response.status_code == 422 and response.json()["errors"][0]["field"] == "offset", response.text
    created = await new_service(client, "probes")
    target = {
        "indicator": "availability",
        "indicator_kind": "timeslice",
        "target": 0.99,
        "timeslice_seconds": 10**30,
        "timeslice_target": 0.9,
        "window": {"kind": "rolling", "duration": "28d"},
    }
    body = {"name": "Gold", "price": {"amount": "1", "currency": "EUR", "period": "month"}, "targets": [target]}
    response = await client.post(f"/v1/services/{created['id']}/offerings", json=body)
    assert response.status_code == 422 and "timeslice_seconds" in response.json()["errors"][0]["field"]
