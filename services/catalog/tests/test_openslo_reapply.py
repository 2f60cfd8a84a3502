"""OpenSLO applied again: v1alpha SLIs, removed alert policies, and what the catalogue publishes for the others."""

from __future__ import annotations

import asyncio
import copy
import json
import uuid
from typing import Any

import httpx
import nats
import pytest
import yaml

from slm_catalog.openslo.router import _TextTimes
from slm_shared.testing.nats_server import NatsServer

YAML = {"Content-Type": "application/yaml"}
APPLIED = "slm.catalog.openslo.applied.v1"
BURN = {"kind": "burnrate", "op": "gte", "threshold": 6, "lookbackWindow": "2h", "alertAfter": "10m"}
PUSHED = {"metricSource": {"type": "push", "spec": {}}}


def doc(kind: str, name: str, spec: dict[str, Any], version: str = "openslo/v1", **metadata: Any) -> dict[str, Any]:
    return {"apiVersion": version, "kind": kind, "metadata": {"name": name, **metadata}, "spec": spec}


async def apply(client: httpx.AsyncClient, documents: list[dict[str, Any]]) -> httpx.Response:
    return await client.post("/v1/openslo", content=yaml.safe_dump_all(documents, sort_keys=False), headers=YAML)


async def exported(client: httpx.AsyncClient) -> list[Any]:
    return list(yaml.load_all((await client.get("/v1/openslo")).text, Loader=_TextTimes))


def alpha_set(good: str) -> list[dict[str, Any]]:
    def query(text: str) -> dict[str, str]:
        return {"source": "prometheus", "queryType": "promql", "query": text}

    return [
        doc("Service", "search", {"description": "finds things"}, "openslo/v1alpha"),
        doc(
            "SLO",
            "search-success",
            {
                "service": "search",
                "timeWindows": [{"unit": "Day", "count": 7, "isRolling": True}],
                "budgetingMethod": "Occurrences",
                "objectives": [
                    {"target": 0.99, "ratioMetrics": {"incremental": True, "good": query(good), "total": query("t")}}
                ],
            },
            "openslo/v1alpha",
        ),
    ]


async def test_a_changed_v1alpha_metric_updates_its_indicator_one_version_up(client: httpx.AsyncClient) -> None:
    first = alpha_set("search_ok_total")
    assert (await apply(client, first)).status_code == 201
    assert (await client.get("/v1/indicators/search-success")).json()["version"] == 1

    changed = alpha_set('search_ok_total{code!~"5.."}')
    answer = await apply(client, changed)
    assert answer.status_code == 201, answer.text
    assert answer.json()["updated_indicators"] == 1
    indicator = (await client.get("/v1/indicators/search-success")).json()
    assert (indicator["kind"], indicator["version"]) == ("ratio", 2)
    assert await exported(client) == changed
    again = await apply(client, changed)
    assert again.status_code == 200 and again.json()["updated_indicators"] == 0
    assert (await client.get("/v1/indicators/search-success")).json()["version"] == 2


def policed_set(*, with_policy: bool) -> list[dict[str, Any]]:
    condition = {"kind": "burnrate", "op": "gte", "threshold": 6, "lookbackWindow": "2h", "alertAfter": "10m"}
    slo: dict[str, Any] = {
        "service": "ledger",
        "indicatorRef": "ledger-ok",
        "budgetingMethod": "Occurrences",
        "timeWindow": [{"duration": "28d", "isRolling": True}],
        "objectives": [{"target": 0.999}],
    }
    documents = [
        doc("Service", "ledger", {}),
        doc("SLI", "ledger-ok", {"ratioMetric": {"counter": True, "good": PUSHED, "total": PUSHED}}),
    ]
    if with_policy:
        slo["alertPolicies"] = [{"alertPolicyRef": "ledger-page"}]
        documents += [
            doc("AlertCondition", "ledger-fast-burn", {"severity": "page", "condition": condition}),
            doc("AlertPolicy", "ledger-page", {"conditions": [{"conditionRef": "ledger-fast-burn"}]}),
        ]
    return [*documents, doc("SLO", "ledger-availability", slo)]


async def published_offering(client: httpx.AsyncClient) -> dict[str, Any]:
    [service] = [s for s in (await client.get("/v1/services")).json()["items"] if s["key"] == "ledger"]
    offerings = (await client.get(f"/v1/services/{service['id']}/offerings")).json()["items"]
    [published] = [o for o in offerings if o["status"] == "published"]
    return dict(published)


async def test_an_slo_whose_alert_policy_is_removed_gets_the_default_policy(client: httpx.AsyncClient) -> None:
    assert (await apply(client, policed_set(with_policy=True))).status_code == 201
    [tier] = (await published_offering(client))["targets"][0]["alert_policy"]
    assert tier["name"] == "ledger-fast-burn"

    answer = await apply(client, policed_set(with_policy=False))
    assert answer.status_code == 201, answer.text
    assert answer.json()["offerings"] == 1
    offering = await published_offering(client)
    assert offering["version"] == 2 and offering["targets"][0]["alert_policy"] == []  # [] is the default tiers

    # The same documents again: nothing changes, no third version.
    again = await apply(client, policed_set(with_policy=False))
    assert again.status_code == 200
    assert (await published_offering(client))["version"] == 2


def wired_set(*, hook: str, query: str) -> list[dict[str, Any]]:
    def metric(text: str) -> dict[str, Any]:
        return {"metricSource": {"metricSourceRef": "prom", "spec": {"query": text}}}

    pager = {"slm/routing-key-env": "SLM_PAGERDUTY_ORDERS", "slm/events-url": "https://events.example.com/v2"}
    return [
        doc("Service", "orders", {}),
        doc("DataSource", "prom", {"type": "prometheus", "connectionDetails": {"url": "http://prometheus:9090"}}),
        doc(
            "SLI",
            "orders-ok",
            {"ratioMetric": {"counter": True, "good": metric(query), "total": metric("sum(rate(orders[1m]))")}},
            annotations={"slm/step-seconds": "30"},
        ),
        doc("AlertCondition", "orders-fast-burn", {"severity": "page", "condition": BURN}),
        doc("AlertNotificationTarget", "orders-hook", {"target": hook}),
        doc("AlertNotificationTarget", "orders-pager", {"target": "pagerduty"}, annotations=pager),
        doc(
            "AlertNotificationTarget",
            "orders-chat",
            {"target": "slack"},
            annotations={"slm/webhook-url-env": "SLM_SLACK_ORDERS"},
        ),
        doc(
            "AlertPolicy",
            "orders-page",
            {
                "conditions": [{"conditionRef": "orders-fast-burn"}],
                "notificationTargets": [
                    {"targetRef": "orders-hook"},
                    {"targetRef": "orders-pager"},
                    {"targetRef": "orders-chat"},
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


async def applied_events(nats_server: NatsServer, marker: str, count: int) -> list[bytes]:
    """The bodies of this test's `openslo.applied` events (they hold `marker`), waiting for `count` of them."""
    nc = await nats.connect(nats_server.url)
    try:
        sub = await nc.jetstream().pull_subscribe("slm.catalog.>", durable=None, stream="SLM_CATALOG")
        found: list[bytes] = []
        for _ in range(60):
            try:
                msgs = await sub.fetch(500, timeout=0.2)
            except TimeoutError:
                msgs = []
            found += [m.data for m in msgs if (m.headers or {}).get("ce-type") == APPLIED and marker.encode() in m.data]
            if len(found) >= count:
                break
            await asyncio.sleep(0.1)
        return found
    finally:
        await nc.close()


async def test_applying_publishes_series_and_targets_without_any_credential(
    client: httpx.AsyncClient, nats_server: NatsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLM_PAGERDUTY_ORDERS", "R0UT1NG-SECRET-0123456789")  # even where the catalogue runs
    monkeypatch.setenv("SLM_SLACK_ORDERS", "https://hooks.slack.example/T0/B0/SECRETPATH")
    marker = uuid.uuid4().hex  # the NATS server outlives the test: its earlier runs' events are in the stream
    hook = f"https://hooks.example.com/{marker}"
    given = wired_set(hook=hook, query="sum(rate(orders_ok[1m]))")
    first = await apply(client, given)
    assert first.status_code == 201, first.text
    [body] = await applied_events(nats_server, marker, 1)
    assert b"R0UT1NG-SECRET" not in body and b"SECRETPATH" not in body
    data = json.loads(body)
    assert data["data_sources"] == [
        {
            "name": "prom",
            "type": "prometheus",
            "url": "http://prometheus:9090",
            "bearer_token_env": None,
            "username_env": None,
            "password_env": None,
        }
    ]
    [series] = data["pulled_series"]
    assert (series["service"], series["indicator"], series["data_source"], series["step_seconds"]) == (
        "orders",
        "orders-ok",
        "prom",
        30,
    )
    assert (series["good_query"], series["value_query"]) == ("sum(rate(orders_ok[1m]))", None)
    targets = {t["name"]: t for t in data["notification_targets"]}
    assert {name: (t["channel"], t["target"], t["secret_env"]) for name, t in targets.items()} == {
        "openslo:orders-chat:orders": ("slack", {}, "SLM_SLACK_ORDERS"),
        "openslo:orders-hook:orders": ("webhook", {"url": hook}, None),
        "openslo:orders-pager:orders": ("pagerduty", {"url": "https://events.example.com/v2"}, "SLM_PAGERDUTY_ORDERS"),
    }

    # Unchanged documents publish nothing; changed ones publish what they now define.
    assert (await apply(client, copy.deepcopy(given))).status_code == 200
    changed = wired_set(hook=f"{hook}/v2", query="sum(rate(orders_good[1m]))")
    assert (await apply(client, changed)).status_code == 201
    bodies = await applied_events(nats_server, marker, 3)
    assert len(bodies) == 2
    latest = json.loads(bodies[1])
    assert latest["pulled_series"][0]["good_query"] == "sum(rate(orders_good[1m]))"
    assert next(t for t in latest["notification_targets"] if t["channel"] == "webhook")["target"] == {
        "url": f"{hook}/v2"
    }
