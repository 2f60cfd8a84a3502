"""The hot objective read (Core row, response built once, not validated again on the way out) returns
exactly what the OpenAPI schema says, and the same body as the ORM path that FastAPI validates."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI
from jsonschema import Draft202012Validator
from measurement_support import activation, points

from slm_measurement import read_model
from slm_shared.testing.pytest_plugin import make_token


def response_schema(document: dict[str, Any], path: str) -> dict[str, Any]:
    """The 200 body schema of GET `path`, resolvable against the whole document's components."""
    schema = document["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    return {**schema, "components": document["components"]}


def properties(document: dict[str, Any], name: str) -> set[str]:
    return set(document["components"]["schemas"][name]["properties"])


async def test_the_hot_objective_read_matches_its_schema_and_the_orm_path(
    app_client: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, client = app_client
    agreement = activation(service_key="payments", party="party-a")
    async with app.state.db.session() as session:
        assert await read_model.apply_activation(session, tenant="acme", agreement=agreement)
    listed = (await client.get("/v1/objectives", params={"service": "payments"})).json()["items"][0]
    await client.post("/v1/measurements", json=points("payments", 995, 1000, minutes_ago=3))
    evaluated = await client.post(f"/v1/objectives/{listed['id']}/evaluate")
    assert evaluated.status_code == 200, evaluated.text

    hot = await client.get(f"/v1/objectives/{listed['id']}")
    assert hot.status_code == 200 and hot.headers["content-type"] == "application/json"
    body = hot.json()
    document = (await client.get("/openapi.json")).json()
    errors = list(Draft202012Validator(response_schema(document, "/v1/objectives/{objective_id}")).iter_errors(body))
    assert errors == [], [e.message for e in errors]
    assert set(body) == properties(document, "ObjectivePublic")  # no field more, none missing
    assert body["status"] == "healthy" and body["good"] == 995 and body["burn_rates"]  # the evaluation is in it

    # The list answers through the ORM and FastAPI's response validation: the same object, field for field.
    again = (await client.get("/v1/objectives", params={"service": "payments"})).json()["items"][0]
    assert body == again

    # Scoping is the same as before: the customer's own party sees it, another party and tenant do not.
    party_a = {"Authorization": f"Bearer {make_token('acme', roles=('customer',), party='party-a')}"}
    party_b = {"Authorization": f"Bearer {make_token('acme', roles=('customer',), party='party-b')}"}
    globex = {"Authorization": f"Bearer {make_token('globex')}"}
    assert (await client.get(f"/v1/objectives/{listed['id']}", headers=party_a)).json() == body
    assert (await client.get(f"/v1/objectives/{listed['id']}", headers=party_b)).status_code == 404
    assert (await client.get(f"/v1/objectives/{listed['id']}", headers=globex)).status_code == 404
    assert (
        await client.get(f"/v1/objectives/{listed['id']}", headers={"Authorization": "Bearer x"})
    ).status_code == 401
