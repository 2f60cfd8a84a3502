"""Bad input is refused with problem+json naming the field; creation is idempotent."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

PROBLEM = "application/problem+json"
WINDOW = {"kind": "calendar", "unit": "month"}


def fields(response: httpx.Response) -> set[str]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    return {error["field"] for error in response.json()["errors"]}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"objectives": [{"indicator": "availability", "target": 1.5, "window": WINDOW}]}, "objectives.0.target"),
        ({"objectives": [{"indicator": "availability", "target": 0}]}, "objectives.0.window"),
        ({"objectives": [{"target": 0.99, "window": WINDOW}]}, "objectives.0.indicator"),
        (
            {
                "objectives": [
                    {
                        "indicator": "latency",
                        "indicator_kind": "threshold",
                        "op": "<=",
                        "value": 300,
                        "target": 0.95,
                        "window": WINDOW,
                    }
                ]
            },
            "objectives.0.op",
        ),
        (
            {
                "objectives": [
                    {
                        "indicator": "latency",
                        "indicator_kind": "threshold",
                        "op": "lte",
                        "target": 0.95,
                        "window": WINDOW,
                    }
                ]
            },
            "objectives.0.value",
        ),
        (
            {
                "objectives": [
                    {
                        "indicator": "latency",
                        "indicator_kind": "threshold",
                        "op": "lte",
                        "value": 300,
                        "objective": 0.95,
                        "window": WINDOW,
                    }
                ]
            },
            "objectives.0.objective",
        ),
        (
            {"objectives": [{"indicator": "x", "target": 0.9, "window": {"kind": "rolling"}}]},
            "objectives.0.window.duration",
        ),
        ({"kind": "SLO"}, "kind"),
        ({"review_cycle": "weekly"}, "review_cycle"),
        ({"effective_from": "2030-01-01T00:00:00"}, "effective_from"),
        ({"effective_from": "2030-01-01T00:00:00Z", "effective_to": "2029-01-01T00:00:00Z"}, "effective_to"),
        ({"consumer_party_id": "nobody"}, "consumer_party_id"),
        ({"provider_party_id": "nobody"}, "provider_party_id"),
        ({"service_id": "another-service"}, "service_id"),
        ({"kind": "UC"}, "provider_party_id"),
        ({"surprise": True}, "surprise"),
    ],
)
async def test_bad_agreement_input_names_the_field(
    client: httpx.AsyncClient,
    seed_offering: Callable[..., Awaitable[dict[str, str]]],
    parties: dict[str, str],
    change: dict[str, Any],
    field: str,
) -> None:
    body = {"kind": "SLA", "name": "n", "consumer_party_id": parties["customer"], **await seed_offering(), **change}
    assert field in fields(await client.post("/v1/agreements", json=body))


async def test_unmeasurable_offering_target_is_refused_unless_overridden(
    client: httpx.AsyncClient, seed_offering: Callable[..., Awaitable[dict[str, str]]], parties: dict[str, str]
) -> None:
    offering = await seed_offering(targets=[{"indicator": "uptime", "target": 0.99, "window": {"kind": "rolling"}}])
    body = {"kind": "SLA", "name": "n", "consumer_party_id": parties["customer"], **offering}
    assert fields(await client.post("/v1/agreements", json=body)) == {"offering_id"}
    fixed = {"indicator": "uptime", "target": 0.99, "window": {"kind": "rolling", "duration": "30d"}}
    created = await client.post("/v1/agreements", json={**body, "objectives": [fixed]})
    assert created.status_code == 201, created.text


async def test_bad_party_input_names_the_field(client: httpx.AsyncClient) -> None:
    contact = {"name": "Ann", "email": "ann@example.com", "role": "business_owner", "escalation_level": 1}
    assert "kind" in fields(await client.post("/v1/parties", json={"name": "A", "kind": "vendor"}))
    bad_email = {"name": "A", "kind": "customer", "contacts": [{**contact, "email": "not-an-email"}]}
    assert "contacts.0.email" in fields(await client.post("/v1/parties", json=bad_email))
    bad_level = {"name": "A", "kind": "customer", "contacts": [{**contact, "escalation_level": 0}]}
    assert "contacts.0.escalation_level" in fields(await client.post("/v1/parties", json=bad_level))
    bad_role = {"name": "A", "kind": "customer", "contacts": [{**contact, "role": "ceo"}]}
    assert "contacts.0.role" in fields(await client.post("/v1/parties", json=bad_role))
    assert "kind" in fields(await client.get("/v1/parties", params={"kind": "vendor"}))
    assert "state" in fields(await client.get("/v1/agreements", params={"state": "signed"}))

    created = await client.post("/v1/parties", json={"name": "Acme Retail", "kind": "customer", "contacts": [contact]})
    assert created.status_code == 201
    assert created.json()["contacts"] == [contact]
    assert (await client.get(f"/v1/parties/{created.json()['id']}")).json()["name"] == "Acme Retail"


async def test_malformed_json_is_a_problem_not_a_crash(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/agreements", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 400 and response.headers["content-type"] == PROBLEM
    response = await client.post(
        "/v1/agreements/x/propose", content=b"[1, 2]", headers={"content-type": "application/json"}
    )
    assert response.status_code in (404, 422) and response.headers["content-type"] == PROBLEM


async def test_creation_with_an_idempotency_key_happens_once(
    client: httpx.AsyncClient, seed_offering: Callable[..., Awaitable[dict[str, str]]], parties: dict[str, str]
) -> None:
    body = {"kind": "SLA", "name": "n", "consumer_party_id": parties["customer"], **await seed_offering()}
    first = await client.post("/v1/agreements", json=body, headers={"Idempotency-Key": "a-1"})
    again = await client.post("/v1/agreements", json=body, headers={"Idempotency-Key": "a-1"})
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"] and again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["ETag"] == first.headers["ETag"]
    assert (await client.get("/v1/agreements")).json()["total"] == 1


@pytest.mark.parametrize("suspect", [False, True], ids=["route", "body-check"])
async def test_a_body_nested_too_deeply_is_a_422_naming_the_body(client: httpx.AsyncClient, suspect: bool) -> None:
    """Too deep for `json.loads` (FastAPI's was a 400 naming nothing), or for the shared body check's parse of a body
    that may hold a number no field may take (it named `body` as nested deeper than 10000 levels): one answer."""
    nan = ', "x": NaN' if suspect else ""
    body = '{"name": "A", "kind": "customer", "contacts": ' + "[" * 5000 + "]" * 5000 + nan + "}"
    response = await client.post("/v1/parties", content=body, headers={"Content-Type": "application/json"})
    assert fields(response) == {"body"}
    assert response.json()["errors"][0] | {"field": "body"} == {
        "field": "body",
        "message": "nested too deeply",
        "type": "too_deep",
    }
