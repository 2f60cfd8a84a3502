"""OpenSLO v1 and v1alpha in and out: mapped onto the catalogue, exported unchanged, refused whole."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
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
    assert again.status_code == 200, again.text
    assert (again.json()["documents"], again.json()["unchanged"]) == (0, len(documents("v1alpha.yaml")))
    assert [o["version"] for o in search.values()] == [1, 1]


async def test_applying_again_updates_what_changed_all_or_nothing(client: httpx.AsyncClient) -> None:
    given = documents("v1.yaml")
    assert (await client.post("/v1/openslo", json=given)).status_code == 201
    [service] = (await client.get("/v1/services", params={"q": "checkout"})).json()["items"]
    offerings_url = f"/v1/services/{service['id']}/offerings"
    before = {o["name"]: o for o in (await client.get(offerings_url)).json()["items"]}

    # The SLO's target and the burn-rate condition change, the Service's display name too.
    slo = next(i for i, d in enumerate(given) if d["metadata"]["name"] == "checkout-availability")
    given[slo]["spec"]["objectives"][0]["target"] = 0.9995
    given[_named(given, "AlertCondition")]["spec"]["condition"]["threshold"] = 6
    given[_named(given, "Service")]["metadata"]["displayName"] = "Checkout (payments)"
    applied = await client.post("/v1/openslo", json=given)
    assert applied.status_code == 201, applied.text
    summary = applied.json()
    assert (summary["documents"], summary["unchanged"], summary["updated_services"]) == (3, len(given) - 3, 1)
    assert summary["offerings"] == 1 and summary["services"] == 0
    assert (await client.get(f"/v1/services/{service['id']}")).json()["name"] == "Checkout (payments)"
    after = {o["name"]: o for o in (await client.get(offerings_url)).json()["items"]}
    new = after["checkout-availability"]
    assert new["version"] == 2 and new["status"] == "published"
    assert new["previous_version_id"] == before["checkout-availability"]["id"]
    assert new["targets"][0]["target"] == 0.9995
    assert new["targets"][0]["alert_policy"][0]["budget_share"] == pytest.approx(6 / 672)
    old = (await client.get(f"/v1/offerings/{before['checkout-availability']['id']}")).json()
    assert old["status"] == "superseded"
    assert after["checkout-latency"]["id"] == before["checkout-latency"]["id"]  # unchanged SLO: same version
    assert (await client.get("/v1/openslo", params={"format": "json"})).json() == given

    # A change with one bad document changes nothing.
    given[slo]["spec"]["objectives"][0]["target"] = 0.999
    given[_named(given, "BudgetAdjustment")]["spec"]["rrule"] = "FREQ=SOMETIMES"
    refused = await client.post("/v1/openslo", json=given)
    assert refused.status_code == 422
    assert {o["name"]: o["id"] for o in (await client.get(offerings_url)).json()["items"]} == {
        name: o["id"] for name, o in after.items()
    }
    exported = (await client.get("/v1/openslo", params={"format": "json"})).json()
    assert exported[slo]["spec"]["objectives"][0]["target"] == 0.9995


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


async def test_burn_rate_conditions_and_budget_adjustments_become_the_targets_terms(
    client: httpx.AsyncClient,
) -> None:
    applied = await client.post("/v1/openslo", content=(HERE / "v1.yaml").read_bytes(), headers=YAML)
    assert applied.status_code == 201, applied.text
    [service] = [s for s in (await client.get("/v1/services")).json()["items"] if s["key"] == "checkout"]
    offerings = {o["name"]: o for o in (await client.get(f"/v1/services/{service['id']}/offerings")).json()["items"]}
    [availability] = offerings["checkout-availability"]["targets"]
    # fast-burn: burn rate >= 14.4 over 1h, confirmed over 5m; over a 28-day window that is 14.4 h of 672 h.
    [tier] = availability["alert_policy"]
    assert tier == {
        "name": "fast-burn",
        "severity": "page",
        "budget_share": pytest.approx(14.4 / 672),
        "long_window": "1h",
        "short_window": "5m",
    }
    assert availability["maintenance_windows"] == [
        {
            "start": "2026-01-04T02:00:00Z",
            "end": None,
            "rrule": "FREQ=WEEKLY;BYDAY=SU",
            "duration_minutes": 120,
            "timezone": "UTC",
            "reason": "the weekly database maintenance",
        }
    ]
    # SLOs without policies or adjustments keep the default policy and no windows.
    [monthly] = offerings["checkout-errors-monthly"]["targets"]
    assert "alert_policy" not in monthly and "maintenance_windows" not in monthly
    exported = (await client.get("/v1/openslo", params={"format": "json"})).json()
    assert exported == documents("v1.yaml")


def _named(given: list[dict], kind: str) -> int:
    return next(i for i, d in enumerate(given) if d["kind"] == kind)


@pytest.mark.parametrize(
    ("change", "path", "reason"),
    [
        (lambda c: c.update(kind="threshold"), "$.spec.condition.kind", "only burnrate conditions"),
        (lambda c: c.update(op="lte"), "$.spec.condition.op", "op gte (or gt)"),
        (lambda c: c.update(threshold=1000), "$.spec.condition.threshold", "more than the whole budget"),
        (lambda c: c.update(lookbackWindow="an hour"), "$.spec.condition.lookbackWindow", "not a length"),
        (lambda c: c.update(alertAfter="2h"), "$.spec.condition.alertAfter", "shorter than the lookback"),
    ],
)
async def test_a_condition_that_cannot_be_measured_is_refused_whole(
    client: httpx.AsyncClient, change: Any, path: str, reason: str
) -> None:
    given = documents("v1.yaml")
    condition = _named(given, "AlertCondition")
    change(given[condition]["spec"]["condition"])
    refused = await client.post("/v1/openslo", json=given)
    assert refused.status_code == 422, refused.text
    [error] = refused.json()["errors"]
    assert error["field"] == f"documents[{condition}] {path}"
    assert error["message"].startswith("AlertCondition fast-burn: ") and reason in error["message"]
    assert (await client.get("/v1/services")).json()["total"] == 0
    assert (await client.get("/v1/openslo", params={"format": "json"})).json() == []


async def test_a_bad_severity_or_maintenance_rule_is_refused_with_its_path(client: httpx.AsyncClient) -> None:
    given = documents("v1.yaml")
    condition, adjustment = _named(given, "AlertCondition"), _named(given, "BudgetAdjustment")
    given[condition]["spec"]["severity"] = "whenever"
    given[adjustment]["spec"]["rrule"] = "FREQ=SOMETIMES"
    refused = await client.post("/v1/openslo", json=given)
    assert refused.status_code == 422
    fields = {e["field"]: e["message"] for e in refused.json()["errors"]}
    assert "severity 'whenever' is not one of" in fields[f"documents[{condition}] $.spec.severity"]
    assert "not a valid RFC 5545 rule" in fields[f"documents[{adjustment}] $.spec.rrule"]
    assert (await client.get("/v1/services")).json()["total"] == 0


async def test_a_one_off_adjustment_and_an_inline_policy(client: httpx.AsyncClient) -> None:
    given = documents("v1.yaml")
    adjustment = _named(given, "BudgetAdjustment")
    del given[adjustment]["spec"]["rrule"]
    slo = next(i for i, d in enumerate(given) if d["metadata"]["name"] == "checkout-availability")
    given[slo]["spec"]["alertPolicies"] = [
        {
            "kind": "AlertPolicy",
            "metadata": {"name": "slow-burn-policy"},
            "spec": {
                "conditions": [
                    {
                        "kind": "AlertCondition",
                        "metadata": {"name": "slow-burn"},
                        "spec": {
                            "severity": "ticket",
                            "condition": {"kind": "burnrate", "op": "gte", "threshold": 1, "lookbackWindow": "3d"},
                        },
                    }
                ]
            },
        }
    ]
    applied = await client.post("/v1/openslo", json=given)
    assert applied.status_code == 201, applied.text
    [service] = [s for s in (await client.get("/v1/services")).json()["items"] if s["key"] == "checkout"]
    offerings = {o["name"]: o for o in (await client.get(f"/v1/services/{service['id']}/offerings")).json()["items"]}
    [availability] = offerings["checkout-availability"]["targets"]
    assert availability["alert_policy"] == [
        {
            "name": "slow-burn",
            "severity": "ticket",
            "budget_share": pytest.approx(3 / 28),
            "long_window": "3d",
            "short_window": "360m",
        }
    ]
    [window] = availability["maintenance_windows"]
    assert (window["start"], window["end"]) == ("2026-01-04T02:00:00Z", "2026-01-04T04:00:00Z")
    assert (await client.get("/v1/openslo", params={"format": "json"})).json() == given


async def test_two_changed_applies_at_once_take_turns_and_give_one_version_each(
    client: httpx.AsyncClient, database_url: str
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("concurrency is proven on PostgreSQL")
    given = documents("v1.yaml")
    assert (await client.post("/v1/openslo", json=given)).status_code == 201
    slo = next(i for i, d in enumerate(given) if d["metadata"]["name"] == "checkout-availability")
    first, second = json.loads(json.dumps(given)), json.loads(json.dumps(given))
    first[slo]["spec"]["objectives"][0]["target"] = 0.9991
    second[slo]["spec"]["objectives"][0]["target"] = 0.9992
    answers = await asyncio.gather(client.post("/v1/openslo", json=first), client.post("/v1/openslo", json=second))
    assert [a.status_code for a in answers] == [201, 201], [a.text for a in answers]  # they take turns
    [service] = (await client.get("/v1/services", params={"q": "checkout"})).json()["items"]
    items = (await client.get(f"/v1/services/{service['id']}/offerings")).json()["items"]
    published = [o for o in items if o["name"] == "checkout-availability" and o["status"] == "published"]
    assert len(published) == 1 and published[0]["version"] == 3  # never two published versions of one SLO
    exported = (await client.get("/v1/openslo", params={"format": "json"})).json()
    assert exported[slo]["spec"]["objectives"][0]["target"] == published[0]["targets"][0]["target"]
