"""OpenSLO documents posted to the catalogue's API (no CLI) are pulled by measurement and subscribed by the notifier.

The catalogue publishes what it accepted (`slm.catalog.openslo.applied.v1`); measurement pulls the
PromQL SLI from the DataSource and the notifier subscribes each AlertNotificationTarget: a URL as a
webhook, PagerDuty, Slack and Teams with their credentials read from the notifier's environment (the
event names the variable, never the value). Applied again with a changed hook, source and step, the
same subscription and the same series change; nothing is duplicated.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nats
import pytest
import yaml

from tests.conftest import FAST, patiently_started
from tools.devstack import Stack
from tools.receiver import WebhookReceiver
from tools.scenario import Scenario, wait_until

pytestmark = pytest.mark.timeout(600)
TENANT = "openslo-api"
SERVICES = ("catalog", "agreements", "measurement", "notifier")
ROUTING_KEY = "R0UT1NG0RDERS0123456789abcdef01"
CHAT_SECRET = "T0SECRET/B0SECRET/CHATPATHSECRET"
PAGER_KEY = "SLM_PAGERDUTY_OPENSLO_API_ORDERS"
ATTACKER = "https://events.attacker.example/v2/enqueue"
BURN = {"kind": "burnrate", "op": "gte", "threshold": 6, "lookbackWindow": "2h", "alertAfter": "10m"}


def doc(kind: str, name: str, spec: dict[str, Any], **metadata: Any) -> dict[str, Any]:
    return {"apiVersion": "openslo/v1", "kind": kind, "metadata": {"name": name, **metadata}, "spec": spec}


def documents(*, hook: str, source: str, step: int) -> list[dict[str, Any]]:
    def metric(query: str) -> dict[str, Any]:
        return {"metricSource": {"metricSourceRef": source, "spec": {"query": query}}}

    def target(name: str, kind: str, **annotations: str) -> dict[str, Any]:
        return doc("AlertNotificationTarget", name, {"target": kind}, annotations=annotations)

    prometheus = {"type": "prometheus", "connectionDetails": {"url": "http://127.0.0.1:9"}}
    return [
        doc("Service", "orders", {"description": "takes orders"}),
        doc("DataSource", "prom-a", prometheus),
        doc("DataSource", "prom-b", prometheus),
        doc(
            "SLI",
            "orders-ok",
            {
                "ratioMetric": {
                    "counter": True,
                    "good": metric("sum(rate(ok[1m]))"),
                    "total": metric("sum(rate(all[1m]))"),
                }
            },
            annotations={"slm/step-seconds": str(step)},
        ),
        doc("AlertCondition", "orders-fast-burn", {"severity": "page", "condition": BURN}),
        doc("AlertNotificationTarget", "orders-hook", {"target": hook}),
        # the notifier reads only this tenant's variables, and never sends its key where the documents say
        target("orders-pager", "pagerduty", **{"slm/routing-key-env": PAGER_KEY, "slm/events-url": ATTACKER}),
        target("orders-slack", "slack", **{"slm/webhook-url-env": "SLM_SLACK_OPENSLO_API_ORDERS"}),
        target("orders-teams", "teams", **{"slm/webhook-url-env": "SLM_TEAMS_OPENSLO_API_ORDERS"}),
        doc(
            "AlertPolicy",
            "orders-page",
            {
                "conditions": [{"conditionRef": "orders-fast-burn"}],
                "notificationTargets": [
                    {"targetRef": name} for name in ("orders-hook", "orders-pager", "orders-slack", "orders-teams")
                ],
            },
        ),
        doc(
            "SLO",
            "orders-availability",
            {
                "service": "orders",
                "indicatorRef": "orders-ok",
                "budgetingMethod": "Occurrences",
                "timeWindow": [{"duration": "28d", "isRolling": True}],
                "objectives": [{"target": 0.99}],
                "alertPolicies": [{"alertPolicyRef": "orders-page"}],
            },
        ),
    ]


@pytest.fixture
def slack() -> Iterator[WebhookReceiver]:
    server = WebhookReceiver().start()
    yield server
    server.stop()


@pytest.fixture
def teams() -> Iterator[WebhookReceiver]:
    server = WebhookReceiver().start()
    yield server
    server.stop()


@pytest.fixture
def wired_stack(
    tmp_path: Path, pager: WebhookReceiver, slack: WebhookReceiver, teams: WebhookReceiver
) -> Iterator[Stack]:
    """The stack, whose notifier holds the tenant's PagerDuty routing key and chat webhook URLs in its environment,
    and sends PagerDuty events to the (loopback) Events API it is configured with."""
    credentials = {
        PAGER_KEY: ROUTING_KEY,
        "SLM_SLACK_OPENSLO_API_ORDERS": f"{slack.url}/{CHAT_SECRET}",
        "SLM_TEAMS_OPENSLO_API_ORDERS": f"{teams.url}/{CHAT_SECRET}",
        "NOTIFIER_PAGERDUTY_EVENTS_URL": pager.url,
    }
    running = Stack.on_free_ports(tmp_path / "stack", extra_env={**FAST, **credentials})
    try:
        patiently_started(running)
        yield running
    finally:
        running.stop()


def post_openslo(scenario: Scenario, given: list[dict[str, Any]], status: int) -> Any:
    body = yaml.safe_dump_all(given, sort_keys=False)
    return scenario.call(
        "POST", "catalog", "/v1/openslo", status, content=body, headers={"Content-Type": "application/yaml"}
    )


def subscriptions(scenario: Scenario) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in scenario.call("GET", "notifier", "/v1/subscriptions", 200)["items"]}


def one_series(scenario: Scenario) -> dict[str, Any] | None:
    items = scenario.call("GET", "measurement", "/v1/pulled-series", 200)["items"]
    assert len(items) <= 1, items
    return items[0] if items else None


async def catalogue_stream(stack: Stack) -> list[bytes]:
    """Every message body in the catalogue's stream, read as an operator."""
    nc = await nats.connect(stack.nats_url, **stack.nats_options())
    try:
        sub = await nc.jetstream().pull_subscribe("slm.catalog.>", durable=None, stream="SLM_CATALOG")
        bodies: list[bytes] = []
        while True:
            try:
                batch = await sub.fetch(500, timeout=1)
            except TimeoutError:
                return bodies
            bodies += [m.data for m in batch]
    finally:
        await nc.close()


def test_openslo_posted_to_the_api_is_pulled_and_subscribed_and_reapplied_in_place(
    wired_stack: Stack,
    receiver: WebhookReceiver,
    pager: WebhookReceiver,
    slack: WebhookReceiver,
    teams: WebhookReceiver,
) -> None:
    stack = wired_stack
    scenario = Scenario({name: stack.url(name) for name in SERVICES}, tenant=TENANT)
    post_openslo(scenario, documents(hook=receiver.url, source="prom-a", step=30), 201)

    # The notifier subscribes the four targets to the service's burn alerts, each on its own channel.
    wanted = {f"openslo:orders-{name}:orders" for name in ("hook", "pager", "slack", "teams")}
    held = wait_until(
        lambda: found if set(found := subscriptions(scenario)) == wanted else None,
        timeout=120,
        what="the notifier to subscribe the four targets",
    )
    assert {name: s["channel"] for name, s in held.items()} == {
        "openslo:orders-hook:orders": "webhook",
        "openslo:orders-pager:orders": "pagerduty",
        "openslo:orders-slack:orders": "slack",
        "openslo:orders-teams:orders": "teams",
    }
    assert all(s["event_types"] == ["slm.measurement.objective.burn_alert.v1"] for s in held.values())
    assert all(s["filters"]["service_key"] == "orders" for s in held.values())
    assert held["openslo:orders-pager:orders"]["target"]["routing_key"] == "***"
    pager_url = held["openslo:orders-pager:orders"]["target"]["url"]
    assert pager_url.rstrip("/") == pager.url.rstrip("/")  # the configured Events API, not slm/events-url
    assert held["openslo:orders-hook:orders"]["target"]["url"] == receiver.url

    # Measurement pulls the SLI from its DataSource at the annotated step.
    sources = {s["name"]: s["id"] for s in scenario.call("GET", "measurement", "/v1/datasources", 200)["items"]}
    assert set(sources) == {"prom-a", "prom-b"}
    series = wait_until(lambda: one_series(scenario), timeout=120, what="measurement to pull the SLI")
    assert (series["service_key"], series["indicator"], series["step_seconds"]) == ("orders", "orders-ok", 30)
    assert (series["good_query"], series["data_source_id"]) == ("sum(rate(ok[1m]))", sources["prom-a"])

    # Slack and Teams deliveries reach their (loopback) incoming webhooks, in their own formats.
    for name, server, shape in (("slack", slack, "blocks"), ("teams", teams, "attachments")):
        subscription = held[f"openslo:orders-{name}:orders"]
        scenario.call("POST", "notifier", f"/v1/subscriptions/{subscription['id']}/test", 202)
        [arrived, *_] = server.wait_for(1, timeout=60)
        assert arrived.path == f"/hooks/slm/{CHAT_SECRET}" and shape in arrived.json()

    # Applied again with another hook, source and step: the same subscription and series change, none is added.
    moved = f"{receiver.url}/moved"
    post_openslo(scenario, documents(hook=moved, source="prom-b", step=60), 201)
    hook = wait_until(
        lambda: (s := subscriptions(scenario)["openslo:orders-hook:orders"])["target"]["url"] == moved and s,
        timeout=120,
        what="the hook subscription to follow its target",
    )
    assert hook["id"] == held["openslo:orders-hook:orders"]["id"]
    assert len(scenario.call("GET", "notifier", "/v1/subscriptions", 200)["items"]) == 4
    changed = wait_until(
        lambda: (s := one_series(scenario)) and s["data_source_id"] == sources["prom-b"] and s,
        timeout=120,
        what="the series to follow its source",
    )
    assert (changed["id"], changed["step_seconds"]) == (series["id"], 60)
    others = {n: s for n, s in subscriptions(scenario).items() if n != "openslo:orders-hook:orders"}
    assert {n: s["version"] for n, s in others.items()} == {n: held[n]["version"] for n in others}

    # The credentials never travelled on the bus nor reached a log.
    bodies = asyncio.run(catalogue_stream(stack))
    assert any(b"openslo:orders-pager:orders" in body for body in bodies)
    for text in [*(b.decode() for b in bodies), *(p.read_text(errors="replace") for p in stack.data_dir.glob("*.log"))]:
        assert ROUTING_KEY not in text and CHAT_SECRET not in text
    assert PAGER_KEY in json.dumps([json.loads(b) for b in bodies if b"orders-pager" in b])
