"""Terms read by several services are checked by the one shared validator: maintenance rules and credit bands."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

PROBLEM = "application/problem+json"
WEEKLY = {"start": "2026-01-04T02:00:00Z", "duration_minutes": 60, "timezone": "Europe/Lisbon"}


async def _create(client: httpx.AsyncClient, offering: dict[str, str], party: str, **terms: Any) -> httpx.Response:
    body = {"kind": "SLA", "name": "n", "consumer_party_id": party, **offering, **terms}
    return await client.post("/v1/agreements", json=body)


@pytest.mark.parametrize(
    ("terms", "field", "says"),
    [
        ({"maintenance_windows": [{**WEEKLY, "rrule": "FREQ=WEEKLY;UNTIL=20270101T000000"}]}, "maintenance_windows.0",
         "UNTIL must be a UTC time"),
        ({"maintenance_windows": [{**WEEKLY, "rrule": "FREQ=WEEKLY;DTSTART=20260101T000000Z"}]},
         "maintenance_windows.0", "DTSTART"),
        ({"service_credits": [{"below": 0.99, "down_to": 0.995, "credit_percent": "10"}]}, "service_credits.0",
         "down_to must be below"),
        ({"service_credits": [{"below": 0.99, "credit_percent": "10", "indicator": "throughput"}]},
         "service_credits.0.indicator", "no objective of this agreement measures 'throughput'"),
        ({"credit_terms": {"cap_percent": "0"}}, "credit_terms.cap_percent", "greater than 0"),
    ],
)  # fmt: skip
async def test_bad_terms_are_refused_naming_the_field(
    client: httpx.AsyncClient,
    seed_offering: Callable[..., Awaitable[dict[str, str]]],
    parties: dict[str, str],
    terms: dict[str, Any],
    field: str,
    says: str,
) -> None:
    response = await _create(client, await seed_offering(), parties["customer"], **terms)
    assert response.status_code == 422 and response.headers["content-type"] == PROBLEM, response.text
    errors = {error["field"]: error["message"] for error in response.json()["errors"]}
    assert field in errors and says in errors[field], errors


async def test_a_utc_until_and_named_credit_bands_are_kept(
    client: httpx.AsyncClient, seed_offering: Callable[..., Awaitable[dict[str, str]]], parties: dict[str, str]
) -> None:
    rule = "FREQ=WEEKLY;UNTIL=20270101T000000Z"
    response = await _create(
        client,
        await seed_offering(),
        parties["customer"],
        maintenance_windows=[{**WEEKLY, "rrule": rule}],
        service_credits=[{"below": 0.99, "credit_percent": "10", "indicator": "availability"}],
        credit_terms={"cap_percent": "15", "partial_period": "full"},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["maintenance_windows"][0]["rrule"] == rule
    assert body["service_credits"][0]["indicator"] == "availability"
    assert body["credit_terms"] == {"cap_percent": "15", "partial_period": "full"}
    assert body["not_measured"] is None
