"""The published list of event types is the one subscriptions are checked against."""

from __future__ import annotations

import httpx

from slm_shared.testing.pytest_plugin import make_token


async def test_every_listed_type_can_be_subscribed_and_nothing_else(client: httpx.AsyncClient) -> None:
    listed = (await client.get("/v1/event-types")).json()["items"]
    types = [item["type"] for item in listed]
    assert "slm.measurement.objective.breached.v1" in types
    breached = next(item for item in listed if item["type"] == "slm.measurement.objective.breached.v1")
    assert breached["producer"] == "measurement" and "objective_id" in breached["payload_schema"]["properties"]
    target = {"url": "https://hooks.example.com/in"}
    for event_type in types:
        created = await client.post(
            "/v1/subscriptions", json={"name": "x", "event_types": [event_type], "target": target}
        )
        assert created.status_code == 201, created.text
    refused = await client.post(
        "/v1/subscriptions", json={"name": "x", "event_types": ["slm.catalog.service.created.v1"], "target": target}
    )
    assert refused.status_code == 422 and "slm.catalog.service.created.v1" not in types


async def test_the_list_needs_a_staff_token(client: httpx.AsyncClient) -> None:
    anonymous = await client.get("/v1/event-types", headers={"Authorization": ""})
    assert anonymous.status_code == 401
    customer = await client.get(
        "/v1/event-types", headers={"Authorization": f"Bearer {make_token(roles=('customer',), party='p1')}"}
    )
    assert customer.status_code == 403


def test_the_readme_lists_every_event_type() -> None:
    from pathlib import Path

    from slm_notifier.event_types.router import event_types

    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text(encoding="utf-8")
    missing = [item.type for item in event_types() if item.type.removesuffix(".v2") not in readme]
    assert not missing, missing
