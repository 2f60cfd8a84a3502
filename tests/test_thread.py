"""The platform thread end to end, and the same thread through faults."""

from __future__ import annotations

import time

import pytest
from standardwebhooks import Webhook

from tools.devstack import Stack
from tools.receiver import Received, WebhookReceiver
from tools.scenario import Scenario, wait_until

# Each test starts NATS and four service processes and SIGKILLs some: the slowest honest tests.
pytestmark = pytest.mark.timeout(180)


def urls(stack: Stack) -> dict[str, str]:
    return {name: stack.url(name) for name in stack.ports}


def assert_one_signed_breach(
    receiver: WebhookReceiver, secret: str, agreement_id: str, timeout: float = 60
) -> Received:
    breached = "slm.measurement.objective.breached.v1"
    found = wait_until(
        lambda: [r for r in receiver.received if r.json()["type"] == breached], timeout=timeout, what="the breach"
    )
    assert found, "no breach notification arrived"
    time.sleep(3)  # anything duplicated would arrive meanwhile
    received = list(receiver.received)
    # The burn tiers that start firing with the breach are announced too, each once.
    assert len({r.headers["webhook-id"] for r in received}) == len(received), [r.json() for r in received]
    assert {r.json()["type"] for r in received} <= {breached, "slm.measurement.objective.burn_alert.v1"}
    breaches = [r for r in received if r.json()["type"] == breached]
    assert len(breaches) == 1, [r.json() for r in breaches]
    hook = breaches[0]
    payload = Webhook(secret).verify(hook.body, hook.headers)
    assert payload["type"] == "slm.measurement.objective.breached.v1"
    assert payload["data"]["agreement_id"] == agreement_id
    assert payload["data"]["status"] == "breached"
    assert payload["data"]["attainment"] < 0.999
    return hook


def test_thread_end_to_end(stack: Stack, receiver: WebhookReceiver) -> None:
    scenario = Scenario(urls(stack))
    subscription = scenario.subscribe(receiver.url)
    service, offering = scenario.create_offering()
    agreement = scenario.activate_sla(service, offering)
    objective = scenario.wait_for_objective(agreement["id"])
    assert objective["target"] == 0.999
    scenario.ingest_breach(service["key"], since=agreement["activated_at"])
    hook = assert_one_signed_breach(receiver, subscription["secret"], agreement["id"])
    # One objective id: the agreement's, in the webhook, in the measurement API and in the agreement.
    assert hook.json()["data"]["objective_id"] == objective["id"] == agreement["objectives"][0]["id"]

    deliveries = scenario.call("GET", "notifier", "/v1/deliveries", 200)["items"]
    assert {d["status"] for d in deliveries} == {"succeeded"} and len(deliveries) == len(receiver.received)
    assert hook.headers["webhook-id"] in {d["id"] for d in deliveries}
    # The objective's state is visible through the API, and nothing fires twice.
    state = scenario.call("GET", "measurement", f"/v1/objectives/{objective['id']}", 200)
    assert state["status"] == "breached"


def test_thread_survives_nats_sigkill(stack: Stack, receiver: WebhookReceiver) -> None:
    scenario = Scenario(urls(stack))
    subscription = scenario.subscribe(receiver.url)
    service, offering = scenario.create_offering()
    assert stack.nats is not None
    stack.nats.kill()  # the offering event may be in flight or still in the outbox
    time.sleep(1)
    stack.nats.start()
    agreement = scenario.activate_sla(service, offering)
    scenario.wait_for_objective(agreement["id"])
    stack.nats.kill()
    scenario.ingest_breach(service["key"])  # ingest needs no NATS; the breach waits in the outbox
    time.sleep(2)
    assert receiver.received == []
    stack.nats.start()
    assert_one_signed_breach(receiver, subscription["secret"], agreement["id"], timeout=90)


def test_thread_survives_measurement_sigkill(stack: Stack, receiver: WebhookReceiver) -> None:
    scenario = Scenario(urls(stack))
    subscription = scenario.subscribe(receiver.url)
    service, offering = scenario.create_offering()
    stack.kill_service("measurement")  # the activation waits for it in its durable consumer
    agreement = scenario.activate_sla(service, offering)
    stack.start_service("measurement")
    scenario.wait_for_objective(agreement["id"])
    scenario.ingest_breach(service["key"])
    stack.kill_service("measurement")  # killed right after the acknowledged ingest
    stack.start_service("measurement")
    assert_one_signed_breach(receiver, subscription["secret"], agreement["id"], timeout=90)
