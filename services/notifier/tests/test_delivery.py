"""Consumed events become signed webhook deliveries, retried and logged."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import httpx
from conftest import delivery_in, objective_status, wait_until
from receivers import Receiver
from standardwebhooks import Webhook

from slm_shared.contracts import EVENTS
from slm_shared.contracts.payloads import AgreementActivatedV1
from slm_shared.testing.pytest_plugin import make_token


async def subscribe(client: httpx.AsyncClient, url: str, **extra: Any) -> dict[str, Any]:
    body = {"name": "ops hook", "event_types": ["slm.measurement.objective.*"], "target": {"url": url}, **extra}
    created = await client.post("/v1/subscriptions", json=body)
    assert created.status_code == 201, created.text
    return created.json()


async def queue_test(client: httpx.AsyncClient, subscription_id: str) -> str:
    queued = await client.post(f"/v1/subscriptions/{subscription_id}/test")
    assert queued.status_code == 202, queued.text
    return queued.json()["id"]


async def test_breach_event_delivers_one_signed_post(client: httpx.AsyncClient, publish: Any, tenant: str) -> None:
    async with Receiver() as receiver:
        sub = await subscribe(client, receiver.url())
        await subscribe(client, receiver.url("/other"), filters={"service_key": "search"})
        await subscribe(
            client, receiver.url("/calm"), filters={"min_severity": "critical"}, event_types=["*.recovered.v1"]
        )
        await publish(EVENTS.objective_breached.build(tenant="someone-else", data=objective_status()))
        event = await publish(EVENTS.objective_breached.build(tenant=tenant, data=objective_status()))

        (request,) = await receiver.wait_for(1)
        assert request.method == "POST" and request.path == "/hook"
        body = Webhook(sub["secret"]).verify(request.body, request.headers)
        assert body["type"] == "slm.measurement.objective.breached.v1"
        assert body["data"]["event_id"] == event.id and body["data"]["tenant"] == tenant
        assert body["data"]["attainment"] == 0.995
        assert datetime.fromisoformat(body["timestamp"]) == event.time

        listed = (await client.get("/v1/deliveries")).json()
        assert listed["total"] == 1
        delivery = await delivery_in(client, listed["items"][0]["id"], "succeeded")
        assert request.headers["webhook-id"] == delivery["id"]
        assert [a["status_code"] for a in delivery["attempts"]] == [200]
        assert len(receiver.requests) == 1


async def test_redelivered_event_is_delivered_once(client: httpx.AsyncClient, publish: Any, tenant: str) -> None:
    async with Receiver() as receiver:
        await subscribe(client, receiver.url())
        event = await publish(EVENTS.objective_at_risk.build(tenant=tenant, data=objective_status(status="at_risk")))
        await publish(event, msg_id="a-different-nats-msg-id")
        marker = await publish(
            EVENTS.objective_recovered.build(tenant=tenant, data=objective_status(status="recovered"))
        )

        requests = await receiver.wait_for(2)
        ids = [json.loads(r.body)["data"]["event_id"] for r in requests]
        assert sorted(ids) == sorted([event.id, marker.id])  # attempts to one receiver run concurrently
        await wait_until(lambda: _total(client, status="succeeded", expected=2))
        assert len(receiver.requests) == 2
        assert (await client.get("/v1/deliveries", params={"event_type": event.type})).json()["total"] == 1


async def _total(client: httpx.AsyncClient, *, expected: int, **params: str) -> bool:
    return (await client.get("/v1/deliveries", params=params)).json()["total"] == expected


async def test_failures_are_retried_with_the_same_webhook_id(client: httpx.AsyncClient) -> None:
    async with Receiver((500, {}), (500, {})) as receiver:
        sub = await subscribe(client, receiver.url())
        delivery_id = await queue_test(client, sub["id"])
        delivery = await delivery_in(client, delivery_id, "succeeded", "dead")

    assert delivery["status"] == "succeeded"
    assert [r.headers["webhook-id"] for r in receiver.requests] == [delivery_id] * 3
    assert [(a["number"], a["status_code"], a["succeeded"]) for a in delivery["attempts"]] == [
        (1, 500, False),
        (2, 500, False),
        (3, 200, True),
    ]
    assert all(a["duration_ms"] >= 0 for a in delivery["attempts"])
    assert delivery["attempt_count"] == 3


async def test_gone_disables_the_subscription(client: httpx.AsyncClient) -> None:
    async with Receiver((410, {})) as receiver:
        sub = await subscribe(client, receiver.url())
        delivery = await delivery_in(client, await queue_test(client, sub["id"]), "failed", "dead")
    assert delivery["status"] == "failed" and len(delivery["attempts"]) == 1
    after = (await client.get(f"/v1/subscriptions/{sub['id']}")).json()
    assert after["enabled"] is False and "410" in after["disabled_reason"]
    assert (await client.post(f"/v1/subscriptions/{sub['id']}/test")).status_code == 409


async def test_redirects_are_not_followed(client: httpx.AsyncClient) -> None:
    async with Receiver() as elsewhere, Receiver(default=(307, {"Location": elsewhere.url()})) as receiver:
        sub = await subscribe(client, receiver.url())
        delivery = await delivery_in(client, await queue_test(client, sub["id"]), "dead")
    assert elsewhere.requests == []
    assert len(receiver.requests) == 4
    assert {a["status_code"] for a in delivery["attempts"]} == {307}
    assert "not followed" in delivery["last_error"]


async def test_retry_after_is_honoured(client: httpx.AsyncClient) -> None:
    async with Receiver((503, {"Retry-After": "120"})) as receiver:
        sub = await subscribe(client, receiver.url())
        delivery_id = await queue_test(client, sub["id"])
        await receiver.wait_for(1)
        delivery: dict[str, Any] = {}

        async def attempted() -> bool:
            nonlocal delivery
            delivery = (await client.get(f"/v1/deliveries/{delivery_id}")).json()
            return len(delivery["attempts"]) == 1

        await wait_until(attempted)
    assert delivery["status"] == "pending"
    attempted_at = datetime.fromisoformat(delivery["attempts"][0]["attempted_at"])
    wait = datetime.fromisoformat(delivery["next_attempt_at"]) - attempted_at
    assert timedelta(seconds=119) <= wait <= timedelta(seconds=125), delivery
    assert delivery["attempts"][0]["next_attempt_at"] == delivery["next_attempt_at"]


async def test_dead_after_max_attempts_then_replay(client: httpx.AsyncClient) -> None:
    async with Receiver(default=(500, {})) as receiver:
        sub = await subscribe(client, receiver.url())
        delivery_id = await queue_test(client, sub["id"])
        dead = await delivery_in(client, delivery_id, "dead")
        assert len(dead["attempts"]) == 4 and dead["next_attempt_at"] is None
        assert (await client.get("/v1/deliveries", params={"status": "dead"})).json()["total"] == 1

        receiver.default = (204, {})
        replayed = await client.post(f"/v1/deliveries/{delivery_id}/replay")
        assert replayed.status_code == 200 and replayed.json()["status"] == "pending"
        done = await delivery_in(client, delivery_id, "succeeded")
    assert len(done["attempts"]) == 5 and done["attempts"][-1]["status_code"] == 204
    assert {r.headers["webhook-id"] for r in receiver.requests} == {delivery_id}
    assert (await client.post(f"/v1/deliveries/{delivery_id}/replay")).status_code == 409


async def test_rotated_secret_signs_beside_the_old_one(client: httpx.AsyncClient) -> None:
    async with Receiver() as receiver:
        sub = await subscribe(client, receiver.url())
        rotated = await client.post(f"/v1/subscriptions/{sub['id']}/rotate-secret")
        assert rotated.status_code == 200
        new_secret = rotated.json()["secret"]
        assert new_secret != sub["secret"] and new_secret.startswith("whsec_")
        await queue_test(client, sub["id"])
        (request,) = await receiver.wait_for(1)
    signatures = request.headers["webhook-signature"].split(" ")
    assert len(signatures) == 2 and all(s.startswith("v1,") for s in signatures)
    for secret in (sub["secret"], new_secret):
        assert Webhook(secret).verify(request.body, request.headers)["type"] == "slm.notifier.subscription.test.v1"
    current, previous = signatures
    Webhook(new_secret).verify(request.body, {**request.headers, "webhook-signature": current})
    Webhook(sub["secret"]).verify(request.body, {**request.headers, "webhook-signature": previous})


async def test_private_target_refused_when_not_allowed(make_client: Any) -> None:
    async with Receiver() as receiver:
        async with make_client() as client:  # registered while private targets were allowed
            sub = await subscribe(client, receiver.url())
        async with make_client(allow_private_targets=False) as client:
            delivery = await delivery_in(client, await queue_test(client, sub["id"]), "failed", "dead")
    assert delivery["status"] == "failed" and len(delivery["attempts"]) == 1
    assert "loopback" in delivery["last_error"] and delivery["attempts"][0]["status_code"] is None
    assert receiver.requests == []


async def test_deliveries_are_tenant_isolated(client: httpx.AsyncClient) -> None:
    async with Receiver() as receiver:
        sub = await subscribe(client, receiver.url())
        delivery_id = await queue_test(client, sub["id"])
        await delivery_in(client, delivery_id, "succeeded")
    other = {"Authorization": f"Bearer {make_token('globex')}"}
    assert (await client.get("/v1/deliveries", headers=other)).json()["total"] == 0
    assert (await client.get(f"/v1/deliveries/{delivery_id}", headers=other)).status_code == 404
    assert (await client.post(f"/v1/deliveries/{delivery_id}/replay", headers=other)).status_code == 404


async def test_agreement_activation_feeds_party_filters(client: httpx.AsyncClient, publish: Any, tenant: str) -> None:
    now = datetime.now().astimezone()
    activated = AgreementActivatedV1(
        agreement_id="agr-9",
        version=1,
        kind="SLA",
        name="Gold for Acme",
        service_id="svc-1",
        service_key="payments",
        consumer_party_id="party-acme",
        effective_from=now,
        objectives=[],
    )
    async with Receiver() as receiver:
        await subscribe(client, receiver.url(), filters={"consumer_party_id": "party-acme"})
        await subscribe(client, receiver.url("/agreements"), event_types=["slm.agreements.*"])
        await publish(EVENTS.agreement_activated.build(tenant=tenant, data=activated))
        await receiver.wait_for(1)  # streams are consumed independently: let the activation land first
        breach = objective_status(agreement_id="agr-9", consumer_party_id=None)
        event = await publish(EVENTS.objective_breached.build(tenant=tenant, data=breach))
        requests = await receiver.wait_for(2)
    by_path = {r.path: json.loads(r.body) for r in requests}
    assert by_path["/agreements"]["type"] == "slm.agreements.agreement.activated.v1"
    assert by_path["/hook"]["data"]["event_id"] == event.id


async def test_a_slow_receiver_does_not_hold_up_the_others(make_client: Any) -> None:
    async with (
        make_client(max_concurrency=4, max_per_subscription=2) as client,
        Receiver(delay=3) as slow,
        Receiver() as fast,
    ):
        slow_sub = await subscribe(client, slow.url("/slow"))
        fast_sub = await subscribe(client, fast.url("/fast"))
        for _ in range(6):
            await queue_test(client, slow_sub["id"])
        await slow.wait_for(2)
        await queue_test(client, fast_sub["id"])
        (arrived,) = await fast.wait_for(1, timeout=2.5)
        assert len(slow.requests) == 2, "at most max_per_subscription attempts to one receiver at a time"
        assert arrived.at - slow.requests[0].at < 2.5
