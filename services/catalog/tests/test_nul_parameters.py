"""A NUL (U+0000) in a path or query parameter, on PostgreSQL, whose text cannot hold one: a path answers 404 (no such
resource), a query parameter 422 naming it, never a 500 (`slm_shared.web.nul_guard`)."""

from __future__ import annotations

import httpx
import pytest

from slm_shared.testing.fuzz import sweep_nul


@pytest.fixture
def database_url(postgres_url: str) -> str:
    return postgres_url


async def test_a_nul_in_any_path_or_query_parameter_is_refused(client: httpx.AsyncClient) -> None:
    await sweep_nul(client)
