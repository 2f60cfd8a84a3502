"""The service list reads its query parameters in one validation (`slm_shared.web.query`): documented in OpenAPI
as FastAPI documents them, refused with a problem+json 422 naming each parameter, applied to the page."""

from __future__ import annotations

from typing import Annotated

import httpx
from conftest import new_service
from fastapi import FastAPI, Query
from fastapi.routing import APIRoute

from slm_catalog.services.router import list_services
from slm_catalog.services.schemas import ServiceListQuery
from slm_shared.web.conditional import IF_NONE_MATCH_PARAMETER


def _fastapi_parameters() -> list[dict[str, object]]:
    """What FastAPI writes for the same parameters declared to it (as a query model)."""
    reference = FastAPI()

    @reference.get("/v1/services")
    async def declared(query: Annotated[ServiceListQuery, Query()]) -> None:
        return None

    parameters: list[dict[str, object]] = reference.openapi()["paths"]["/v1/services"]["get"]["parameters"]
    return parameters


async def test_every_query_parameter_is_in_the_openapi_document(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    parameters = document["paths"]["/v1/services"]["get"]["parameters"]
    assert parameters == [*_fastapi_parameters(), IF_NONE_MATCH_PARAMETER]
    names = [p["name"] for p in parameters if p["in"] == "query"]
    assert names == ["type", "lifecycle", "tag", "owner", "q", "sort", "limit", "offset"]
    limit = next(p for p in parameters if p["name"] == "limit")
    assert limit["schema"] == {
        "type": "integer",
        "minimum": 1,
        "maximum": 500,
        "default": 50,
        "description": "items per page",
        "title": "Limit",
    }
    sort = next(p for p in parameters if p["name"] == "sort")
    assert sort["schema"]["enum"][:2] == ["key", "-key"] and sort["schema"]["default"] == "key"


def test_fastapi_validates_none_of_the_parameters_itself() -> None:
    """One validation of the whole query per request, not one per parameter by FastAPI's dependency solver."""
    from slm_catalog.services.router import router

    route = next(r for r in router.routes if isinstance(r, APIRoute) and r.endpoint is list_services)
    assert route.dependant.query_params == []


async def test_bad_parameters_are_a_problem_naming_each(client: httpx.AsyncClient) -> None:
    for query, fields in (
        ("limit=-1", {"limit"}),
        ("limit=0&offset=-1", {"limit", "offset"}),
        ("limit=501", {"limit"}),
        ("limit=ten", {"limit"}),
        ("sort=size", {"sort"}),
        ("type=person&lifecycle=dead", {"type", "lifecycle"}),
        ("tag=" + "x" * 65, {"tag"}),
        ("q=" + "x" * 201, {"q"}),
    ):
        response = await client.get(f"/v1/services?{query}")
        assert response.status_code == 422, (query, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert {e["field"] for e in response.json()["errors"]} == fields, (query, response.text)


async def test_the_parameters_reach_the_page(client: httpx.AsyncClient) -> None:
    await new_service(client, "alpha", type="technical", tags=["pci"])
    await new_service(client, "bravo", lifecycle="pipeline", owner_team="Core")
    await new_service(client, "charlie", description="card vault")

    async def keys(query: str) -> tuple[list[str], int, int, int]:
        response = await client.get(f"/v1/services?{query}")
        assert response.status_code == 200, response.text
        page = response.json()
        return [i["key"] for i in page["items"]], page["total"], page["limit"], page["offset"]

    assert await keys("") == (["alpha", "bravo", "charlie"], 3, 50, 0)
    assert await keys("type=technical") == (["alpha"], 1, 50, 0)
    assert await keys("lifecycle=pipeline") == (["bravo"], 1, 50, 0)
    assert await keys("tag=pci") == (["alpha"], 1, 50, 0)
    assert await keys("owner=core") == (["bravo"], 1, 50, 0)
    assert await keys("q=vault") == (["charlie"], 1, 50, 0)
    assert await keys("sort=-key&limit=2&offset=1") == (["bravo", "alpha"], 3, 2, 1)
    assert await keys("limit=1&limit=2") == (["alpha", "bravo"], 3, 2, 0)  # a repeated parameter: its last value
    assert await keys("unknown=1") == (["alpha", "bravo", "charlie"], 3, 50, 0)  # undeclared: ignored
    assert await keys("tag=") == (["alpha", "bravo", "charlie"], 3, 50, 0)  # empty: no filter, as before


async def test_a_bad_token_is_refused_before_the_parameters_are_read(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/services?limit=-1", headers={"Authorization": "Bearer not-a-token"})
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"
