"""A token's subject is kept as who acted (`created_by`, ...: `ACTOR_MAX_LENGTH` characters) and its party compared
with party ids (`PARTY_ID_MAX_LENGTH`): on PostgreSQL one longer, or holding U+0000, failed the write or the query
(a 500). Each is refused at the edge, a 401 naming the claim; the longest subject is stored."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
import pytest

from slm_shared.auth import issue_token
from slm_shared.settings import DEVELOPMENT_JWT_SECRET
from slm_shared.web.bounds import ACTOR_MAX_LENGTH, PARTY_ID_MAX_LENGTH


@pytest.fixture
def database_url(postgres_url: str) -> str:
    return postgres_url


def _as(*, roles: tuple[str, ...], subject: str | None = None, party: str | None = None) -> dict[str, str]:
    signed = issue_token(DEVELOPMENT_JWT_SECRET, tenant="acme", roles=roles, subject=subject, party=party)
    return {"Authorization": f"Bearer {signed}"}


def _refused(response: httpx.Response, claim: str) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"] == "Bearer"
    assert claim in response.json()["detail"], response.json()


async def test_a_subject_or_party_no_column_keeps_is_refused_naming_the_claim(
    client: httpx.AsyncClient, seed_offering: Callable[..., Awaitable[dict[str, str]]], parties: dict[str, str]
) -> None:
    body = {"kind": "SLA", "name": "Pay", "consumer_party_id": parties["customer"], **await seed_offering()}
    longest = "s" * ACTOR_MAX_LENGTH
    created = await client.post("/v1/agreements", json=body, headers=_as(roles=("manager",), subject=longest))
    assert created.status_code == 201, created.text
    assert created.json()["created_by"] == longest
    for subject in ("s" * (ACTOR_MAX_LENGTH + 1), "a\x00b", "a\ud800b"):
        sent = await client.post("/v1/agreements", json=body, headers=_as(roles=("manager",), subject=subject))
        _refused(sent, "subject (sub)")

    customer = parties["customer"]
    assert len(customer) == PARTY_ID_MAX_LENGTH  # a party id as minted: a UUID
    listed = await client.get("/v1/agreements", headers=_as(roles=("customer",), party=customer))
    assert listed.status_code == 200, listed.text
    for party in ("p" * (PARTY_ID_MAX_LENGTH + 1), "p\x00q", "p\udc80q"):
        _refused(await client.get("/v1/agreements", headers=_as(roles=("customer",), party=party)), "party")
