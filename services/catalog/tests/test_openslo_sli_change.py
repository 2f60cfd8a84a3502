"""Applying an OpenSLO SLI again with a changed definition changes its indicator, in place, one version up."""

from __future__ import annotations

import httpx
import yaml

from slm_catalog.openslo.router import _TextTimes

YAML = {"Content-Type": "application/yaml"}


def sli_set(*, query: str, display: str, threshold: bool = False) -> list[dict]:
    metric = {"metricSource": {"metricSourceRef": "prom", "spec": {"query": query}}}
    if threshold:
        measured = {"thresholdMetric": metric}
    else:
        measured = {"ratioMetric": {"counter": True, "good": metric, "total": metric}}
    return [
        {"apiVersion": "openslo/v1", "kind": "Service", "metadata": {"name": "orders"}, "spec": {}},
        {
            "apiVersion": "openslo/v1",
            "kind": "DataSource",
            "metadata": {"name": "prom"},
            "spec": {"type": "prometheus", "connectionDetails": {"url": "http://prometheus:9090"}},
        },
        {
            "apiVersion": "openslo/v1",
            "kind": "SLI",
            "metadata": {"name": "orders-ok", "displayName": display},
            "spec": {"description": f"measured by {query}", **measured},
        },
        {
            "apiVersion": "openslo/v1",
            "kind": "SLO",
            "metadata": {"name": "orders-availability"},
            "spec": {
                "service": "orders",
                "indicatorRef": "orders-ok",
                "budgetingMethod": "Occurrences",
                "timeWindow": [{"duration": "28d", "isRolling": True}],
                "objectives": [{"target": 0.99}],
            },
        },
    ]


async def apply(client: httpx.AsyncClient, documents: list[dict]) -> httpx.Response:
    return await client.post("/v1/openslo", content=yaml.safe_dump_all(documents, sort_keys=False), headers=YAML)


async def test_a_changed_sli_updates_its_indicator_and_exports_as_applied(client: httpx.AsyncClient) -> None:
    first = sli_set(query="sum(increase(orders_total[1m]))", display="Orders taken")
    assert (await apply(client, first)).status_code == 201
    indicator = (await client.get("/v1/indicators/orders-ok")).json()
    assert (indicator["name"], indicator["version"]) == ("Orders taken", 1)

    changed = sli_set(query='sum(increase(orders_total{code!~"5.."}[1m]))', display="Orders accepted")
    answer = await apply(client, changed)
    assert answer.status_code == 201, answer.text
    summary = answer.json()
    assert (summary["updated_indicators"], summary["documents"], summary["offerings"]) == (1, 1, 0)
    indicator = (await client.get("/v1/indicators/orders-ok")).json()
    assert (indicator["name"], indicator["kind"], indicator["version"]) == ("Orders accepted", "ratio", 2)
    assert indicator["description"] == 'measured by sum(increase(orders_total{code!~"5.."}[1m]))'
    exported = [d for d in yaml.load_all((await client.get("/v1/openslo")).text, Loader=_TextTimes)]
    assert exported == changed

    # The same again is a no-op: the indicator keeps its version.
    again = await apply(client, changed)
    assert again.status_code == 200 and again.json()["updated_indicators"] == 0
    assert (await client.get("/v1/indicators/orders-ok")).json()["version"] == 2


async def test_an_sli_that_changes_kind_is_refused_and_nothing_changes(client: httpx.AsyncClient) -> None:
    first = sli_set(query="sum(increase(orders_total[1m]))", display="Orders taken")
    assert (await apply(client, first)).status_code == 201
    turned = sli_set(query="histogram_quantile(0.99, orders_seconds_bucket)", display="Slow", threshold=True)
    answer = await apply(client, turned)
    assert answer.status_code == 422
    [error] = answer.json()["errors"]
    assert error["field"] == "documents[2] $.spec"
    assert "was a ratio indicator and is now threshold" in error["message"]
    indicator = (await client.get("/v1/indicators/orders-ok")).json()
    assert (indicator["name"], indicator["version"]) == ("Orders taken", 1)
    exported = [d for d in yaml.load_all((await client.get("/v1/openslo")).text, Loader=_TextTimes)]
    assert exported == first
