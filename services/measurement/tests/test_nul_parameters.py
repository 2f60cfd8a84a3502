"""A NUL (U+0000) in any path or query parameter, on PostgreSQL: refused, never a 500.

The test and its PostgreSQL binding are shared: `slm_shared.testing.nul_parameters`; here on the API alone.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from slm_shared.testing.nul_parameters import database_url, test_a_nul_in_any_path_or_query_parameter_is_refused

__all__ = ["client", "database_url", "test_a_nul_in_any_path_or_query_parameter_is_refused"]


@pytest.fixture
async def client(app_client: tuple[FastAPI, httpx.AsyncClient]) -> AsyncIterator[httpx.AsyncClient]:
    yield app_client[1]
