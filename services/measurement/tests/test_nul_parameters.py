"""A NUL (U+0000) in a path or query parameter, on PostgreSQL, whose text cannot hold one: a path answers 404 (no such
resource), a query parameter 422 naming it, never a 500 (`slm_shared.web.nul_guard`)."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from slm_shared.testing.fuzz import sweep_nul


@pytest.fixture
def database_url(postgres_url: str) -> str:
    return postgres_url


async def test_a_nul_in_any_path_or_query_parameter_is_refused(app_client: tuple[FastAPI, httpx.AsyncClient]) -> None:
    _, client = app_client
    await sweep_nul(client)


@pytest.mark.parametrize(
    "path", ["/v1/objectives/%00", "/v1/objectives/a%00b/timeline", "/v1/tickets/%00", "/v1/objectives%00"]
)
async def test_a_nul_in_the_path_answers_404(app_client: tuple[FastAPI, httpx.AsyncClient], path: str) -> None:
    _, client = app_client
    answer = await client.get(path)
    assert answer.status_code == 404 and answer.headers["content-type"] == "application/problem+json", answer.text


async def test_a_nul_in_a_query_parameter_answers_422_naming_it(app_client: tuple[FastAPI, httpx.AsyncClient]) -> None:
    _, client = app_client
    answer = await client.get("/v1/objectives?limit=1&agreement_id=a%00b")
    assert answer.status_code == 422 and answer.headers["content-type"] == "application/problem+json", answer.text
    assert [e["field"] for e in answer.json()["errors"]] == ["agreement_id"]
