"""An OpenSLO document deleted over the catalogue's API: measurement stops pulling its series (keeping what was
pulled) and stops querying its data source, the notifier disables its subscription; the apply from before the
deletion, delivered again late, starts nothing, and applying the document again resumes the same series and
subscription. Another tenant gets 404."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from typing import Any

import nats
import pytest

from tests.test_openslo_api_wiring import doc, post_openslo
from tools.devstack import Stack
from tools.receiver import WebhookReceiver
from tools.scenario import Scenario, wait_until

pytestmark = pytest.mark.timeout(600)
TENANT = "openslo-delete"
SERVICES = ("catalog", "agreements", "measurement", "notifier")
HOOK = "openslo:orders-hook:orders"
APPLIED = "slm.catalog.openslo.applied.v1"


def documents(hook: str) -> list[dict[str, Any]]:
    def metric(query: str) -> dict[str, Any]:
        return {"metricSource": {"metricSourceRef": "prom", "spec": {"query": query}}}

    burn = {"kind": "burnrate", "op": "gte", "threshold": 6, "lookbackWindow": "2h", "alertAfter": "10m"}
    ratio = {"counter": True, "good": metric("sum(rate(ok[1m]))"), "total": metric("sum(rate(all[1m]))")}
    return [
        doc("Service", "orders", {"description": "takes orders"}),
        doc("DataSource", "prom", {"type": "prometheus", "connectionDetails": {"url": "http://127.0.0.1:9"}}),
        doc("SLI", "orders-ok", {"ratioMetric": ratio}),
        doc("AlertCondition", "orders-fast-burn", {"severity": "page", "condition": burn}),
        doc("AlertNotificationTarget", "orders-hook", {"target": hook}),
        doc(
            "AlertPolicy",
            "orders-page",
            {
                "conditions": [{"conditionRef": "orders-fast-burn"}],
                "notificationTargets": [{"targetRef": "orders-hook"}],
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


def state(scenario: Scenario) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """(the pulled series, the hook's subscription), either None while missing."""
    series = scenario.call("GET", "measurement", "/v1/pulled-series", 200)["items"]
    subscriptions = {s["name"]: s for s in scenario.call("GET", "notifier", "/v1/subscriptions", 200)["items"]}
    assert len(series) <= 1, series
    return (series[0] if series else None), subscriptions.get(HOOK)


async def replay_first_apply(stack: Stack) -> str:
    """Publish the first apply's event again under a new id, as an older apply delivered after the deletion."""
    nc = await nats.connect(stack.nats_url, **stack.nats_options())
    try:
        js = nc.jetstream()
        sub = await js.pull_subscribe("slm.catalog.openslo.>", durable=None, stream="SLM_CATALOG")
        [first, *_] = [m for m in await sub.fetch(50, timeout=5) if (m.headers or {}).get("ce-type") == APPLIED]
        fresh = str(uuid.uuid4())
        headers = {**(first.headers or {}), "ce-id": fresh, "Nats-Msg-Id": fresh}
        await js.publish(first.subject, first.data, headers=headers)
        return fresh
    finally:
        await nc.close()


def consumed(stack: Stack, service: str, event_id: str) -> bool:
    with sqlite3.connect(stack.data_dir / f"{service}.db") as db:
        return db.execute("SELECT 1 FROM inbox WHERE event_id = ?", (event_id,)).fetchone() is not None


def test_deleting_an_slo_stops_its_series_and_subscription_and_only_a_newer_apply_resumes_them(
    stack: Stack, receiver: WebhookReceiver
) -> None:
    scenario = Scenario({name: stack.url(name) for name in SERVICES}, tenant=TENANT)
    post_openslo(scenario, documents(receiver.url), 201)
    series, hook = wait_until(
        lambda: (found := state(scenario))[0] and found[1] and found,
        timeout=120,
        what="the series pulled and the hook subscribed",
    )
    assert series["stopped_at"] is None and hook["enabled"] is True

    other = Scenario({name: stack.url(name) for name in SERVICES}, tenant="openslo-delete-other")
    refused = other.call("DELETE", "catalog", "/v1/openslo/SLO/orders-availability", 404)
    assert "No OpenSLO SLO named orders-availability" in refused["detail"]
    scenario.call("DELETE", "catalog", "/v1/openslo/SLI/orders-ok", 409)  # the SLO still names it

    scenario.call("DELETE", "catalog", "/v1/openslo/SLO/orders-availability", 204)
    stopped, disabled = wait_until(
        lambda: (found := state(scenario))[0]["stopped_at"] and not found[1]["enabled"] and found,
        timeout=120,
        what="the series stopped and the hook disabled",
    )
    assert stopped["id"] == series["id"] and disabled["id"] == hook["id"]  # stopped and disabled, not deleted
    assert disabled["disabled_reason"] == "OpenSLO document deleted: SLO orders-availability"
    exported = scenario.call("GET", "catalog", "/v1/openslo?format=json", 200)
    assert "orders-availability" not in [d["metadata"]["name"] for d in exported]

    replayed = asyncio.run(replay_first_apply(stack))
    for service in ("measurement", "notifier"):  # consumed (in each one's inbox), and it changed nothing
        wait_until(
            lambda name=service: consumed(stack, name, replayed), timeout=60, what=f"{service} to consume the replay"
        )
    still, still_hook = state(scenario)
    assert still is not None and still_hook is not None
    assert still["stopped_at"] == stopped["stopped_at"] and still_hook["enabled"] is False

    post_openslo(scenario, documents(receiver.url), 201)  # applied again: the same series and subscription resume
    resumed, enabled = wait_until(
        lambda: (found := state(scenario))[0]["stopped_at"] is None and found[1]["enabled"] and found,
        timeout=120,
        what="the series and the hook resumed",
    )
    assert resumed["id"] == series["id"] and enabled["id"] == hook["id"]

    # the DataSource document once nothing names it: measurement stops querying it (listed, stopped), and the
    # first apply delivered again after that changes nothing
    scenario.call("DELETE", "catalog", "/v1/openslo/DataSource/prom", 409)  # the SLI still names it
    for kind, name in (("SLO", "orders-availability"), ("SLI", "orders-ok"), ("DataSource", "prom")):
        scenario.call("DELETE", "catalog", f"/v1/openslo/{kind}/{name}", 204)
    source = wait_until(
        lambda: (found := data_source(scenario)) and found["stopped_at"] and found,
        timeout=120,
        what="the data source stopped",
    )
    replayed = asyncio.run(replay_first_apply(stack))
    wait_until(lambda: consumed(stack, "measurement", replayed), timeout=60, what="measurement to consume the replay")
    assert data_source(scenario) == source


def data_source(scenario: Scenario) -> dict[str, Any] | None:
    listed = scenario.call("GET", "measurement", "/v1/datasources", 200)["items"]
    return next((s for s in listed if s["name"] == "prom"), None)
