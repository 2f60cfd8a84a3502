"""Deleting an applied OpenSLO document: gone from export, and what only it wired is published as removed."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import httpx
import nats
import yaml
from conftest import CUSTOMER, auth

from slm_catalog.openslo.router import _TextTimes
from slm_shared.testing.nats_server import NatsServer

YAML = {"Content-Type": "application/yaml"}
APPLIED, REMOVED = "slm.catalog.openslo.applied.v1", "slm.catalog.openslo.removed.v1"


def doc(kind: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "openslo/v1", "kind": kind, "metadata": {"name": name}, "spec": spec}


def documents(marker: str) -> list[dict[str, Any]]:
    """Two SLOs of one service sharing a DataSource, an alert policy and its webhook target."""

    def sli(name: str, query: str) -> dict[str, Any]:
        metric = {"metricSource": {"metricSourceRef": "prom", "spec": {"query": query}}}
        return doc("SLI", name, {"thresholdMetric": metric})

    def slo(name: str, sli_name: str) -> dict[str, Any]:
        return doc(
            "SLO",
            name,
            {
                "service": "orders",
                "indicatorRef": sli_name,
                "budgetingMethod": "Occurrences",
                "timeWindow": [{"duration": "28d", "isRolling": True}],
                "objectives": [{"target": 0.99, "op": "lte", "value": 0.3}],
                "alertPolicies": [{"alertPolicyRef": "page"}],
            },
        )

    burn = {"kind": "burnrate", "op": "gte", "threshold": 6, "lookbackWindow": "2h", "alertAfter": "10m"}
    return [
        doc("Service", "orders", {"description": "takes orders"}),
        doc("DataSource", "prom", {"type": "prometheus", "connectionDetails": {"url": "http://127.0.0.1:9"}}),
        sli(f"fast-{marker}", "latency_a"),
        sli(f"slow-{marker}", "latency_b"),
        doc("AlertCondition", "burn", {"severity": "page", "condition": burn}),
        doc("AlertNotificationTarget", "hook", {"target": f"https://hooks.example/{marker}"}),
        doc(
            "AlertPolicy",
            "page",
            {"conditions": [{"conditionRef": "burn"}], "notificationTargets": [{"targetRef": "hook"}]},
        ),
        slo("orders-fast", f"fast-{marker}"),
        slo("orders-slow", f"slow-{marker}"),
    ]


async def apply(client: httpx.AsyncClient, given: list[dict[str, Any]], **headers: str) -> httpx.Response:
    body = yaml.safe_dump_all(given, sort_keys=False)
    return await client.post("/v1/openslo", content=body, headers={**YAML, **headers})


async def exported(client: httpx.AsyncClient) -> list[tuple[str, str]]:
    return [
        (d["kind"], d["metadata"]["name"])
        for d in yaml.load_all((await client.get("/v1/openslo")).text, Loader=_TextTimes)
    ]


async def published(nats_server: NatsServer, marker: str, event_type: str, count: int) -> list[dict[str, Any]]:
    """The catalogue's events of this type that mention the marker (the stream outlives the test)."""
    nc = await nats.connect(nats_server.url)
    try:
        sub = await nc.jetstream().pull_subscribe("slm.catalog.>", durable=None, stream="SLM_CATALOG")
        found: list[dict[str, Any]] = []
        for _ in range(15):
            try:
                msgs = await sub.fetch(500, timeout=0.2)
            except TimeoutError:
                msgs = []
            found += [
                json.loads(m.data)
                for m in msgs
                if (m.headers or {}).get("ce-type") == event_type and marker.encode() in m.data
            ]
            if len(found) > count:
                break
            await asyncio.sleep(0.1)
        return found
    finally:
        await nc.close()


async def test_deleting_an_slo_publishes_only_what_it_alone_wired(
    client: httpx.AsyncClient, nats_server: NatsServer
) -> None:
    marker = uuid.uuid4().hex[:12]
    assert (await apply(client, documents(marker))).status_code == 201

    gone = await client.delete("/v1/openslo/SLO/orders-fast")
    assert gone.status_code == 204, gone.text
    assert ("SLO", "orders-fast") not in await exported(client)
    assert len(await exported(client)) == 8
    # its series stops; the hook stays subscribed, orders-slow still alerts through it
    [first] = await published(nats_server, f"fast-{marker}", REMOVED, 1)
    assert first["kind"] == "SLO" and first["name"] == "orders-fast"
    assert first["pulled_series"] == [{"service": "orders", "indicator": f"fast-{marker}"}]
    assert first["notification_targets"] == []

    assert (await client.delete("/v1/openslo/SLO/orders-slow")).status_code == 204
    [second] = await published(nats_server, f"slow-{marker}", REMOVED, 1)
    assert second["pulled_series"] == [{"service": "orders", "indicator": f"slow-{marker}"}]
    assert second["notification_targets"] == ["openslo:hook:orders"]

    again = await client.delete("/v1/openslo/SLO/orders-slow")
    assert again.status_code == 404
    assert again.headers["content-type"] == "application/problem+json"
    assert "No OpenSLO SLO named orders-slow" in again.json()["detail"]

    # applied again, it is back, and its wiring is published again
    assert (await apply(client, documents(marker))).status_code == 201
    assert ("SLO", "orders-fast") in await exported(client)
    applied = await published(nats_server, f"fast-{marker}", APPLIED, 2)
    assert len(applied) == 2


def inline_policy_slo() -> list[dict[str, Any]]:
    """An SLO whose alert policy is written inline: it names its condition and target itself."""
    burn = {"kind": "burnrate", "op": "gte", "threshold": 6, "lookbackWindow": "2h", "alertAfter": "10m"}
    policy = {
        "kind": "AlertPolicy",
        "metadata": {"name": "inline-page"},
        "spec": {
            "conditions": [{"conditionRef": "burn-inline"}],
            "notificationTargets": [{"targetRef": "hook-inline"}],
        },
    }
    return [
        doc("AlertCondition", "burn-inline", {"severity": "page", "condition": burn}),
        doc("AlertNotificationTarget", "hook-inline", {"target": "https://hooks.example/inline"}),
        doc(
            "SLO",
            "orders-inline",
            {
                "service": "orders",
                "indicator": {
                    "metadata": {"name": "inline-latency"},
                    "spec": {"thresholdMetric": {"metricSource": {"metricSourceRef": "prom", "spec": {"query": "q"}}}},
                },
                "budgetingMethod": "Occurrences",
                "timeWindow": [{"duration": "28d", "isRolling": True}],
                "objectives": [{"target": 0.99, "op": "lte", "value": 0.3}],
                "alertPolicies": [policy],
            },
        ),
    ]


async def test_a_document_another_names_is_not_deleted(client: httpx.AsyncClient) -> None:
    marker = uuid.uuid4().hex[:12]
    assert (await apply(client, [*documents(marker), *inline_policy_slo()])).status_code == 201
    before = await exported(client)
    for kind, name, named_by in (
        ("SLI", f"fast-{marker}", "SLO orders-fast"),
        ("AlertNotificationTarget", "hook", "AlertPolicy page"),
        ("AlertNotificationTarget", "hook-inline", "SLO orders-inline"),
        ("AlertCondition", "burn-inline", "SLO orders-inline"),
        ("Service", "orders", "SLO orders-fast, SLO orders-slow, SLO orders-inline"),
        ("DataSource", "prom", f"SLI fast-{marker}, SLI slow-{marker}, SLO orders-inline"),
    ):
        refused = await client.delete(f"/v1/openslo/{kind}/{name}")
        assert refused.status_code == 409, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert f"{kind} {name} is named by {named_by}" in refused.json()["detail"]
    assert await exported(client) == before
    # once nothing names it, it goes
    for kind, name in (("SLO", "orders-fast"), ("SLI", f"fast-{marker}")):
        assert (await client.delete(f"/v1/openslo/{kind}/{name}")).status_code == 204


async def test_another_tenants_document_is_not_found_and_a_customer_may_not_delete(
    client: httpx.AsyncClient,
) -> None:
    marker = uuid.uuid4().hex[:12]
    assert (await apply(client, documents(marker))).status_code == 201
    elsewhere = await client.delete("/v1/openslo/SLO/orders-fast", headers=auth(tenant="globex"))
    assert elsewhere.status_code == 404
    assert elsewhere.headers["content-type"] == "application/problem+json"
    assert (await client.delete("/v1/openslo/SLO/orders-fast", headers=CUSTOMER)).status_code == 403
    assert (await client.delete("/v1/openslo/SLO/orders-fast", headers={"Authorization": ""})).status_code == 401
    assert (await client.delete(f"/v1/openslo/SLO/{'x' * 64}")).status_code == 422
    assert ("SLO", "orders-fast") in await exported(client)


async def test_two_deletes_at_once_delete_once(client: httpx.AsyncClient, nats_server: NatsServer) -> None:
    marker = uuid.uuid4().hex[:12]
    assert (await apply(client, documents(marker))).status_code == 201
    answers = await asyncio.gather(*(client.delete("/v1/openslo/SLO/orders-fast") for _ in range(4)))
    assert sorted(a.status_code for a in answers) == [204, 404, 404, 404]
    assert len(await published(nats_server, f"fast-{marker}", REMOVED, 1)) == 1


async def test_deleting_a_data_source_document_publishes_its_data_source_once_nothing_names_it(
    client: httpx.AsyncClient, nats_server: NatsServer
) -> None:
    marker = uuid.uuid4().hex[:12]
    source = doc("DataSource", f"prom-{marker}", {"type": "prometheus", "connectionDetails": {"url": "http://p:9"}})
    metric = {"metricSource": {"metricSourceRef": f"prom-{marker}", "spec": {"query": "latency"}}}
    sli = doc("SLI", f"sli-{marker}", {"thresholdMetric": metric})
    assert (await apply(client, [source, sli])).status_code == 201
    refused = await client.delete(f"/v1/openslo/DataSource/prom-{marker}")
    assert refused.status_code == 409 and f"named by SLI sli-{marker}" in refused.json()["detail"]
    assert (await client.delete(f"/v1/openslo/SLI/sli-{marker}")).status_code == 204

    assert (await client.delete(f"/v1/openslo/DataSource/prom-{marker}")).status_code == 204
    [removed] = await published(nats_server, f"prom-{marker}", REMOVED, 1)
    assert (removed["kind"], removed["name"], removed["data_sources"]) == (
        "DataSource",
        f"prom-{marker}",
        [f"prom-{marker}"],
    )
    assert removed["pulled_series"] == [] and removed["notification_targets"] == []


async def test_documents_deleted_whole_can_be_applied_again_onto_the_services_they_made(
    client: httpx.AsyncClient,
) -> None:
    """`slm delete -f x.yaml`, then `slm apply -f x.yaml`: the catalogue's service is taken back, not refused."""
    marker = uuid.uuid4().hex[:12]
    given = documents(marker)
    assert (await apply(client, given)).status_code == 201
    services = (await client.get("/v1/services")).json()["items"]
    for document in reversed(given):  # those naming others first
        gone = await client.delete(f"/v1/openslo/{document['kind']}/{document['metadata']['name']}")
        assert gone.status_code == 204, gone.text
    assert await exported(client) == []

    again = await apply(client, given)
    assert again.status_code == 201, again.text
    assert again.json()["services"] == 0  # none created: the one there is the documents' again
    assert len(await exported(client)) == len(given)
    assert [s["id"] for s in (await client.get("/v1/services")).json()["items"]] == [s["id"] for s in services]
    # a service made over the API is still not the documents' to take
    made = await client.post("/v1/services", json={"key": "billing", "name": "Billing"})
    assert made.status_code == 201, made.text
    taken = await apply(client, [doc("Service", "billing", {"description": "bills"})])
    assert taken.status_code == 409, taken.text
