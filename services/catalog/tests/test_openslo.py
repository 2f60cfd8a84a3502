"""OpenSLO v1 and v1alpha in and out: mapped onto the catalogue, exported unchanged, refused whole."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import yaml
from conftest import auth

from slm_catalog.openslo.router import _TextTimes

HERE = Path(__file__).parent / "openslo"
YAML = {"Content-Type": "application/yaml"}


def documents(name: str) -> list[dict]:
    loaded = [d for d in yaml.load_all((HERE / name).read_text(), Loader=_TextTimes) if d is not None]
    return [doc for item in loaded for doc in (item if isinstance(item, list) else [item])]


async def test_every_kind_and_method_round_trips_unchanged(client: httpx.AsyncClient) -> None:
    given = documents("v1.yaml") + documents("v1alpha.yaml")
    for name in ("v1.yaml", "v1alpha.yaml"):
        applied = await client.post("/v1/openslo", content=(HERE / name).read_bytes(), headers=YAML)
        assert applied.status_code == 201, applied.text
    exported = await client.get("/v1/openslo")
    assert exported.headers["content-type"].startswith("application/yaml")
    assert [d for d in yaml.load_all(exported.text, Loader=_TextTimes)] == given
    assert (await client.get("/v1/openslo", params={"format": "json"})).json() == given
    kinds = {d["kind"] for d in given}
    assert kinds == {
        "Service",
        "SLI",
        "SLO",
        "DataSource",
        "AlertPolicy",
        "AlertCondition",
        "AlertNotificationTarget",
        "BudgetAdjustment",
    }

    # What the catalogue made of them: services, indicators and one published offering per SLO.
    services = {s["key"]: s for s in (await client.get("/v1/services")).json()["items"]}
    assert services["checkout"]["name"] == "Checkout" and services["search"]["name"] == "Search"
    indicators = {i["key"]: i["kind"] for i in (await client.get("/v1/indicators")).json()["items"]}
    assert indicators["checkout-success"] == "ratio" and indicators["checkout-latency"] == "threshold"
    assert indicators["checkout-failure-ratio"] == "ratio" and indicators["search-latency"] == "threshold"
    offerings = {
        o["name"]: o for o in (await client.get(f"/v1/services/{services['checkout']['id']}/offerings")).json()["items"]
    }
    [availability] = offerings["checkout-availability"]["targets"]
    assert availability["target"] == 0.999 and availability["budgeting_method"] == "occurrences"
    assert availability["window"] == {"kind": "rolling", "duration": "28d", "unit": None, "timezone": "UTC"}
    [monthly] = offerings["checkout-errors-monthly"]["targets"]
    assert monthly["target"] == 0.995 and monthly["budgeting_method"] == "timeslices"
    assert (monthly["timeslice_seconds"], monthly["timeslice_target"]) == (60, 0.95)
    assert monthly["window"]["kind"] == "calendar" and monthly["window"]["unit"] == "month"
    assert monthly["window"]["timezone"] == "Europe/Warsaw"
    [latency] = offerings["checkout-latency"]["targets"]
    assert (latency["op"], latency["value"], latency["budgeting_method"]) == ("lte", 0.3, "ratio_timeslices")
    assert latency["timeslice_seconds"] == 300 and latency["window"]["unit"] == "week"
    assert offerings["checkout-raw"]["targets"][0]["window"]["duration"] == "14d"
    search = {
        o["name"]: o for o in (await client.get(f"/v1/services/{services['search']['id']}/offerings")).json()["items"]
    }
    assert search["search-latency"]["targets"][0]["window"]["timezone"] == "Europe/Lisbon"
    assert search["search-success"]["targets"][0]["window"]["duration"] == "7d"

    again = await client.post("/v1/openslo", content=(HERE / "v1alpha.yaml").read_bytes(), headers=YAML)
    assert again.status_code == 409 and "documents[0] $.metadata.name" in again.text


async def test_a_refusal_names_document_path_and_reason_and_applies_nothing(client: httpx.AsyncClient) -> None:
    given = documents("v1.yaml")
    slo = next(i for i, d in enumerate(given) if d["metadata"]["name"] == "checkout-latency")
    given[slo]["spec"]["objectives"][0]["target"] = 1.5
    policy = next(i for i, d in enumerate(given) if d["kind"] == "AlertPolicy")
    given[policy]["spec"]["conditions"][0]["conditionRef"] = "nowhere"
    refused = await client.post("/v1/openslo", content=json.dumps(given), headers={"Content-Type": "application/json"})
    assert refused.status_code == 422
    errors = refused.json()["errors"]
    assert errors[0]["field"] == f"documents[{slo}] $.spec.objectives[0].target"
    assert errors[0]["message"] == "SLO checkout-latency: Input should be less than or equal to 1"
    # The bad reference is found once the fields are right.
    given[slo]["spec"]["objectives"][0]["target"] = 0.99
    refused = await client.post("/v1/openslo", content=json.dumps(given), headers={"Content-Type": "application/json"})
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == f"documents[{policy}] $.spec.conditions[0].conditionRef"
    assert refused.json()["errors"][0]["message"] == "AlertPolicy page-on-fast-burn: no AlertCondition named nowhere"
    assert (await client.get("/v1/services")).json()["total"] == 0
    assert (await client.get("/v1/openslo", params={"format": "json"})).json() == []

    unknown = [{"apiVersion": "openslo/v2", "kind": "SLO", "metadata": {"name": "x"}, "spec": {}}]
    refused = await client.post("/v1/openslo", json=unknown)
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "documents[0] $.apiVersion"
    alpha_sli = [{"apiVersion": "openslo/v1alpha", "kind": "SLI", "metadata": {"name": "x"}, "spec": {}}]
    refused = await client.post("/v1/openslo", json=alpha_sli)
    assert refused.status_code == 422 and "is not one of Service, SLO" in refused.text
    rolling_month = documents("v1.yaml")
    rolling_month[slo]["spec"]["timeWindow"][0] = {"duration": "1M", "isRolling": True}
    refused = await client.post("/v1/openslo", json=rolling_month)
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == f"documents[{slo}] $.spec.timeWindow[0].duration"


async def test_openslo_needs_a_staff_token(client: httpx.AsyncClient) -> None:
    customer = await client.get("/v1/openslo", headers=auth(role="customer", party="p1"))
    assert customer.status_code == 403
    other = await client.post(
        "/v1/openslo", content=(HERE / "v1alpha.yaml").read_bytes(), headers={**YAML, **auth(tenant="other")}
    )
    assert other.status_code == 201
    assert (await client.get("/v1/openslo", params={"format": "json"})).json() == []
