"""A token's tenant is kept in every table and event in at most `TENANT_MAX_LENGTH` characters: a longer one, or one
holding U+0000, is refused at the edge (401 naming it), never a write PostgreSQL refuses (a 500); the longest one is
stored."""

from __future__ import annotations

import httpx
import pytest

from slm_shared.contracts.envelope import TENANT_MAX_LENGTH
from slm_shared.testing.pytest_plugin import make_token


@pytest.fixture
def database_url(postgres_url: str) -> str:
    return postgres_url


async def test_a_tenant_longer_than_its_columns_is_refused_and_the_longest_stored(client: httpx.AsyncClient) -> None:
    body = {"key": "payments", "name": "Payments"}
    longest = {"Authorization": f"Bearer {make_token('t' * TENANT_MAX_LENGTH)}"}
    created = await client.post("/v1/services", json=body, headers=longest)
    assert created.status_code == 201, created.text
    assert (await client.get(f"/v1/services/{created.json()['id']}", headers=longest)).status_code == 200

    # longer than its columns, or holding U+0000 (which no PostgreSQL column keeps)
    for tenant in ("t" * (TENANT_MAX_LENGTH + 1), "acme\x00x"):
        refusing = {"Authorization": f"Bearer {make_token(tenant)}"}
        refused = await client.post("/v1/services", json=body, headers=refusing)
        assert refused.status_code == 401, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.headers["www-authenticate"] == "Bearer"
        assert "tenant" in refused.json()["detail"]
