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


async def test_each_listed_severity_is_the_one_events_of_the_type_are_sent_with(client: httpx.AsyncClient) -> None:
    """Build each type's payload as its producer does (every severity it may carry) and filter it as the
    notifier does when sending: the list gives exactly those severities."""
    from typing import get_args

    from slm_notifier.matching import TEST_EVENT_TYPE, severity_of
    from slm_shared.contracts.registry import spec_for_type
    from slm_shared.contracts.severity import SENT_SEVERITY

    listed = {item["type"]: item for item in (await client.get("/v1/event-types")).json()["items"]}
    for event_type, item in listed.items():
        spec = spec_for_type(event_type)
        if spec is None:
            assert event_type == TEST_EVENT_TYPE and item["severities"] == ["info"]
            continue
        field = spec.payload.model_fields.get("severity")
        carried = (
            [SENT_SEVERITY[event_type]] if event_type in SENT_SEVERITY else get_args(field.annotation) if field else []
        )
        examples = [spec.payload.model_construct(severity=value) for value in carried] or [
            spec.payload.model_construct()
        ]
        sent = {severity_of(event_type, example.model_dump(mode="json")) for example in examples}
        assert set(item["severities"]) == sent, event_type
        assert item["severity"] == (sent.pop() if len(sent) == 1 else None), event_type
    assert listed["slm.measurement.objective.breached.v1"]["severity"] == "critical"
    assert listed["slm.measurement.objective.recovered.v1"]["severity"] == "info"
    assert listed["slm.measurement.objective.burn_alert.v1"]["severities"] == ["warning", "critical"]
