"""The hot service list (Core rows, page built once, not validated again on the way out) returns exactly
what the OpenAPI schema says, and the same services as the ORM path that FastAPI validates."""

from __future__ import annotations

from typing import Any

import httpx
from conftest import auth, new_service
from jsonschema import Draft202012Validator


def response_schema(document: dict[str, Any], path: str) -> dict[str, Any]:
    """The 200 body schema of GET `path`, resolvable against the whole document's components."""
    schema = document["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    return {**schema, "components": document["components"]}


async def test_the_hot_service_list_matches_its_schema_and_the_orm_path(client: httpx.AsyncClient) -> None:
    await new_service(client, "payments", tags=["pci", "tier-1"], owner_team="Core")
    await new_service(client, "search", description="Finds 100% of things")
    await new_service(client, "ledger", lifecycle="retired")
    response = await client.get("/v1/services")
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    page = response.json()
    document = (await client.get("/openapi.json")).json()
    errors = list(Draft202012Validator(response_schema(document, "/v1/services")).iter_errors(page))
    assert errors == [], [e.message for e in errors]
    assert set(page) == {"items", "total", "limit", "offset"}
    fields = set(document["components"]["schemas"]["ServicePublic"]["properties"])
    assert all(set(item) == fields for item in page["items"])  # no field more, none missing
    assert [i["key"] for i in page["items"]] == ["ledger", "payments", "search"] and page["total"] == 3

    # Each item is what the single read (ORM entity, validated by FastAPI) returns.
    for item in page["items"]:
        assert item == (await client.get(f"/v1/services/{item['id']}")).json()

    # Filters and pages bind their values to statements built once: each combination still filters.
    async def keys(**params: object) -> tuple[list[str], int]:
        found = (await client.get("/v1/services", params=params)).json()
        return [i["key"] for i in found["items"]], found["total"]

    assert await keys(tag="pci") == (["payments"], 1)
    assert await keys(q="100%") == (["search"], 1)
    assert await keys(q="100_") == ([], 0)
    assert await keys(owner="core") == (["payments"], 1)
    assert await keys(lifecycle="retired", sort="-key") == (["ledger"], 1)
    assert await keys(limit=1, offset=1) == (["payments"], 3)
    assert await keys(offset=5) == ([], 3)
    assert await keys(sort="-key", limit=2) == (["search", "payments"], 3)

    # Scoping: another tenant sees none of them; a customer sees live services only.
    other = (await client.get("/v1/services", headers=auth("globex"))).json()
    assert other["items"] == [] and other["total"] == 0
    customer = (await client.get("/v1/services", headers=auth(role="customer", party="p-1"))).json()
    assert [i["key"] for i in customer["items"]] == ["payments", "search"]
