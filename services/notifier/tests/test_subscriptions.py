"""Subscription API: secrets shown once, validation, concurrency, roles and tenant isolation."""

from __future__ import annotations

import httpx

from slm_shared.testing.pytest_plugin import make_token

HOOK = {"name": "ops", "event_types": ["slm.measurement.objective.*"], "target": {"url": "https://hooks.example/slm"}}


async def test_secret_is_shown_only_on_creation(client: httpx.AsyncClient) -> None:
    created = await client.post(
        "/v1/subscriptions", json={**HOOK, "language": "pt", "filters": {"min_severity": "critical"}}
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["secret"].startswith("whsec_") and body["language"] == "pt" and body["enabled"] is True
    assert created.headers["Location"] == f"/v1/subscriptions/{body['id']}"
    read = await client.get(f"/v1/subscriptions/{body['id']}")
    assert "secret" not in read.json() and read.json()["filters"]["min_severity"] == "critical"
    listed = (await client.get("/v1/subscriptions")).json()
    assert listed["total"] == 1 and "secret" not in listed["items"][0]


async def test_invalid_subscriptions_name_the_field(client: httpx.AsyncClient) -> None:
    cases = {
        "event_types": {**HOOK, "event_types": ["slm.nothing.*"]},
        "event_types.0": {**HOOK, "event_types": ["bad pattern!"]},
        "target.url": {**HOOK, "target": {"url": "ftp://example.com"}},
        "language": {**HOOK, "language": "de"},
        "filters.min_severity": {**HOOK, "filters": {"min_severity": "urgent"}},
        "channel": {**HOOK, "channel": "carrier-pigeon"},
    }
    for field, body in cases.items():
        response = await client.post("/v1/subscriptions", json=body)
        assert response.status_code == 422, (field, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert field in [e["field"] for e in response.json()["errors"]], (field, response.json())
    broken = await client.post("/v1/subscriptions", content=b"{not json", headers={"Content-Type": "application/json"})
    assert broken.status_code == 400


async def test_patch_with_if_match_and_delete(client: httpx.AsyncClient) -> None:
    created = await client.post("/v1/subscriptions", json=HOOK)
    sub_id, etag = created.json()["id"], created.headers["ETag"]
    changed = await client.patch(
        f"/v1/subscriptions/{sub_id}",
        json={"enabled": False, "filters": {"service_key": "payments"}},
        headers={"If-Match": etag},
    )
    assert changed.status_code == 200 and changed.json()["enabled"] is False
    assert changed.json()["filters"]["service_key"] == "payments"
    stale = await client.patch(f"/v1/subscriptions/{sub_id}", json={"name": "x"}, headers={"If-Match": etag})
    assert stale.status_code == 412
    assert (await client.post(f"/v1/subscriptions/{sub_id}/test")).status_code == 409
    assert (await client.delete(f"/v1/subscriptions/{sub_id}")).status_code == 204
    assert (await client.get(f"/v1/subscriptions/{sub_id}")).status_code == 404


async def test_idempotent_creation(client: httpx.AsyncClient) -> None:
    first = await client.post("/v1/subscriptions", json=HOOK, headers={"Idempotency-Key": "sub-1"})
    again = await client.post("/v1/subscriptions", json=HOOK, headers={"Idempotency-Key": "sub-1"})
    assert again.status_code == 201 and again.json()["id"] == first.json()["id"]
    assert (await client.get("/v1/subscriptions")).json()["total"] == 1


async def test_roles_and_tenant_isolation(client: httpx.AsyncClient) -> None:
    sub_id = (await client.post("/v1/subscriptions", json=HOOK)).json()["id"]
    other = {"Authorization": f"Bearer {make_token('globex')}"}
    assert (await client.get("/v1/subscriptions", headers=other)).json()["total"] == 0
    for method, path in [
        ("GET", f"/v1/subscriptions/{sub_id}"),
        ("PATCH", f"/v1/subscriptions/{sub_id}"),
        ("DELETE", f"/v1/subscriptions/{sub_id}"),
        ("POST", f"/v1/subscriptions/{sub_id}/rotate-secret"),
        ("POST", f"/v1/subscriptions/{sub_id}/test"),
    ]:
        response = await client.request(method, path, headers=other, json={} if method == "PATCH" else None)
        assert response.status_code == 404, (method, path)
    customer = {"Authorization": f"Bearer {make_token('acme', ('customer',), party='p1')}"}
    assert (await client.get("/v1/subscriptions", headers=customer)).status_code == 403
    assert (await client.get("/v1/deliveries", headers={"Authorization": ""})).status_code == 401


async def test_each_channel_validates_its_target_and_hides_credentials(client: httpx.AsyncClient) -> None:
    base = {"name": "x", "event_types": ["slm.measurement.objective.*"]}
    cases = {
        "target.url": {"channel": "slack", "target": {}},
        "target.password": {"channel": "servicenow", "target": {"instance_url": "https://x.example", "username": "u"}},
        "target.routing_key": {"channel": "pagerduty", "target": {"routing_key": ""}},
        "target.contacts.roles.0": {"channel": "email", "target": {"contacts": {"roles": ["ceo"]}}},
        "target": {"channel": "email", "target": {}},
        "escalation_seconds": {"channel": "email", "target": {"to": ["a@b.example"]}, "escalation_seconds": 0},
    }
    for field, body in cases.items():
        response = await client.post("/v1/subscriptions", json={**base, **body})
        assert response.status_code == 422, (field, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert field in [e["field"] for e in response.json()["errors"]], (field, response.json())
    created = await client.post(
        "/v1/subscriptions",
        json={
            **base,
            "channel": "jira",
            "target": {
                "base_url": "https://acme.atlassian.example",
                "email": "ops@acme.example",
                "api_token": "very-secret",
                "service_desk_id": "1",
                "request_type_id": "2",
            },
        },
    )
    assert created.status_code == 201, created.text
    shown = (await client.get(f"/v1/subscriptions/{created.json()['id']}")).json()
    assert shown["target"]["api_token"] == "***" and shown["target"]["resolve_transition"] == "Resolve"
    email = await client.post(
        "/v1/subscriptions",
        json={**base, "channel": "email", "target": {"contacts": {"roles": ["service_level_manager"]}}},
    )
    # unset party: the provider for internal alerts, the consumer for the rest (test_internal_alert_contacts)
    assert email.status_code == 201 and email.json()["target"]["contacts"].get("party") is None
