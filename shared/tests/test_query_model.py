"""Query parameters read as one model: what FastAPI documents and answers for the same parameters, one validation."""

from __future__ import annotations

from typing import Annotated, Literal

import httpx
import pytest
from fastapi import FastAPI, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from slm_shared.errors import install_error_handlers
from slm_shared.web.pagination import PageLimitField, PageOffsetField
from slm_shared.web.query import QueryModel


class Listing(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: Literal["a", "b"] | None = None
    text: str | None = Field(None, max_length=5, description="text to find")
    sort: Literal["name", "-name"] = "name"
    limit: PageLimitField = 50
    offset: PageOffsetField = 0


LISTING = QueryModel(Listing)


def _apps() -> tuple[FastAPI, FastAPI]:
    """The same list twice: parameters read by `QueryModel`, and declared to FastAPI as a query model."""
    ours, fastapis = FastAPI(), FastAPI()
    for app in (ours, fastapis):
        install_error_handlers(app)

    @ours.get("/items", openapi_extra=LISTING.openapi())
    async def read_ours(request: Request) -> dict[str, object]:
        return LISTING.parse(request).model_dump()

    @fastapis.get("/items")
    async def read_fastapis(query: Annotated[Listing, Query()]) -> dict[str, object]:
        return query.model_dump()

    return ours, fastapis


def _client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


def test_the_parameters_are_documented_as_fastapi_documents_the_model() -> None:
    ours, fastapis = _apps()
    documented = ours.openapi()["paths"]["/items"]["get"]["parameters"]
    assert documented == fastapis.openapi()["paths"]["/items"]["get"]["parameters"]
    assert [p["name"] for p in documented] == ["kind", "text", "sort", "limit", "offset"]
    limit = next(p for p in documented if p["name"] == "limit")
    assert limit["schema"]["minimum"] == 1 and limit["schema"]["maximum"] == 500 and limit["schema"]["default"] == 50
    assert next(p for p in documented if p["name"] == "text")["description"] == "text to find"


def test_parameters_declared_beside_them_are_kept_after_them() -> None:
    header = {"name": "If-None-Match", "in": "header", "required": False, "schema": {"type": "string"}}
    extra = LISTING.openapi({"parameters": [header], "x-other": 1})
    assert extra["parameters"] == [*LISTING.parameters, header] and extra["x-other"] == 1


@pytest.mark.parametrize(
    "query",
    [
        "",
        "kind=a&limit=7&offset=3",
        "sort=-name&text=abc",
        "limit=2&limit=9",  # a repeated parameter: its last value
        "unknown=1&kind=b",  # an undeclared parameter: ignored
        "text=",
        "limit=-1",
        "limit=501&offset=-2&kind=c",  # every refusal named, not only the first
        "limit=x",
        "sort=bogus",
        "text=toolong",
        "offset=99999999999999999999",
    ],
)
async def test_values_and_refusals_are_fastapis(query: str) -> None:
    ours, fastapis = _apps()
    async with _client(ours) as client, _client(fastapis) as reference:
        answer = await client.get(f"/items?{query}")
        expected = await reference.get(f"/items?{query}")
    assert answer.status_code == expected.status_code, (answer.text, expected.text)
    assert answer.headers["content-type"] == expected.headers["content-type"]
    assert answer.json() == expected.json()
    if answer.status_code == 422:
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["errors"], answer.text


async def test_a_refusal_names_the_parameter() -> None:
    ours, _ = _apps()
    async with _client(ours) as client:
        refused = await client.get("/items?limit=-1&kind=c")
    assert refused.status_code == 422
    assert {e["field"] for e in refused.json()["errors"]} == {"limit", "kind"}


def test_no_query_string_is_the_defaults_validated_once() -> None:
    request = Request({"type": "http", "method": "GET", "path": "/items", "query_string": b"", "headers": []})
    assert LISTING.parse(request) is LISTING.defaults
    assert LISTING.defaults == Listing()


def test_a_model_that_is_not_frozen_is_refused() -> None:
    class Mutable(BaseModel):
        limit: int = 1

    with pytest.raises(TypeError, match="frozen"):
        QueryModel(Mutable)
