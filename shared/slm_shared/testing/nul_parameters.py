"""The NUL sweep every service runs on PostgreSQL, whose text cannot hold a U+0000: a path answers 404 (no such
resource), a query parameter 422 naming it, never a 500 (`slm_shared.web.nul_guard`, `fuzz.sweep_nul`).

A service opts in from a test module of its own, which needs a `client` fixture (its running app):

    from slm_shared.testing.nul_parameters import database_url, test_a_nul_in_any_path_or_query_parameter_is_refused

The `database_url` imported with the test binds that module's app to PostgreSQL; in a conftest it would bind every
test of the service's suite, hence a module of its own.
"""

from __future__ import annotations

import httpx
import pytest

from slm_shared.testing.fuzz import sweep_nul

__all__ = ["database_url", "test_a_nul_in_any_path_or_query_parameter_is_refused"]


@pytest.fixture
def database_url(postgres_url: str) -> str:
    return postgres_url


async def test_a_nul_in_any_path_or_query_parameter_is_refused(client: httpx.AsyncClient) -> None:
    await sweep_nul(client)
