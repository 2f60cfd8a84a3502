"""A token's tenant is kept in every table and event in at most `TENANT_MAX_LENGTH` characters: a longer one, or one
holding U+0000 or a lone surrogate (text no column keeps), is refused at the edge (401 naming it), never a write
PostgreSQL or SQLite refuses (a 500); the longest one is stored. So are its subject and party, each to its bound."""

from __future__ import annotations

import httpx
import pytest

from slm_shared.auth import issue_token
from slm_shared.contracts.envelope import TENANT_MAX_LENGTH
from slm_shared.settings import DEVELOPMENT_JWT_SECRET
from slm_shared.testing.pytest_plugin import make_token
from slm_shared.web.bounds import ACTOR_MAX_LENGTH, PARTY_ID_MAX_LENGTH


@pytest.fixture(params=["postgres", "sqlite"])
def database_url(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue(f"{request.param}_url"))


def _refused(response: httpx.Response, claim: str) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"] == "Bearer"
    assert claim in response.json()["detail"], response.json()


async def test_a_tenant_longer_than_its_columns_is_refused_and_the_longest_stored(client: httpx.AsyncClient) -> None:
    body = {"key": "payments", "name": "Payments"}
    for longest in ("t" * TENANT_MAX_LENGTH, "é" * TENANT_MAX_LENGTH):  # characters, not bytes
        headers = {"Authorization": f"Bearer {make_token(longest)}"}
        created = await client.post("/v1/services", json=body, headers=headers)
        assert created.status_code == 201, created.text
        assert (await client.get(f"/v1/services/{created.json()['id']}", headers=headers)).status_code == 200

    # longer than its columns, holding U+0000, or a lone surrogate (a valid JSON escape a signed token may carry)
    for tenant in ("t" * (TENANT_MAX_LENGTH + 1), "acme\x00x", "ac\ud800me"):
        refusing = {"Authorization": f"Bearer {make_token(tenant)}"}
        _refused(await client.post("/v1/services", json=body, headers=refusing), "tenant")
        _refused(await client.get("/v1/services", headers=refusing), "tenant")


async def test_a_subject_or_party_no_column_keeps_is_refused_naming_the_claim(client: httpx.AsyncClient) -> None:
    def token(subject: str | None = None, party: str | None = None) -> dict[str, str]:
        roles = ("customer",) if party else ("admin",)
        signed = issue_token(DEVELOPMENT_JWT_SECRET, tenant="acme", roles=roles, subject=subject, party=party)
        return {"Authorization": f"Bearer {signed}"}

    assert (await client.get("/v1/services", headers=token(subject="s" * ACTOR_MAX_LENGTH))).status_code == 200
    assert (await client.get("/v1/services", headers=token(party="p" * PARTY_ID_MAX_LENGTH))).status_code == 200
    for subject in ("s" * (ACTOR_MAX_LENGTH + 1), "a\x00b", "a\udc80b"):
        _refused(await client.get("/v1/services", headers=token(subject=subject)), "subject (sub)")
    for party in ("p" * (PARTY_ID_MAX_LENGTH + 1), "p\x00q", "p\ud800q"):
        _refused(await client.get("/v1/services", headers=token(party=party)), "party")


async def test_a_body_holding_a_lone_surrogate_is_refused_naming_its_field(client: httpx.AsyncClient) -> None:
    sent = await client.post(
        "/v1/services",
        content=b'{"key": "k2", "name": "K\\ud800"}',
        headers={"content-type": "application/json"},
    )
    assert sent.status_code == 422, sent.text
    assert sent.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in sent.json()["errors"]] == ["name"], sent.json()
