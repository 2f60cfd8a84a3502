"""Customer observations are recorded as fact, annotated, counted by the terms, and only for that customer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from practice_support import activated_sla, customer, ingest, objective_of, scenario_on, wait_for_attainment

from tools.devstack import Stack
from tools.receiver import WebhookReceiver
from tools.scenario import wait_until

pytestmark = pytest.mark.timeout(180)


def test_a_customer_observation_counts_for_its_own_sla_only_and_is_annotated_not_edited(
    stack: Stack, receiver: WebhookReceiver
) -> None:
    scenario = scenario_on(stack)
    service, offering = scenario.create_offering()
    northwind, northwind_token = customer(scenario, "Northwind Traders", "Ana Silva")
    contoso, contoso_token = customer(scenario, "Contoso", "Jan Kowalski")
    counting = {
        "observation_terms": {"counts_as": "bad_time", "kinds": ["unavailable", "degraded"]},
        "service_credits": [{"below": 0.999, "credit_percent": "10"}],
    }
    ours = activated_sla(scenario, service, offering, northwind, northwind_token, **counting)
    theirs = activated_sla(scenario, service, offering, contoso, contoso_token, **counting)
    scenario.call(
        "POST", "notifier", "/v1/subscriptions", 201,
        json={"name": "observations", "event_types": ["slm.measurement.observation.*"], "channel": "webhook",
              "target": {"url": receiver.url}},
    )  # fmt: skip
    terms = scenario.call("GET", "agreements", f"/v1/agreements/{ours['id']}/versions/1", 200)
    assert terms["observation_terms"] == {"counts_as": "bad_time", "kinds": ["unavailable", "degraded"]}
    for agreement in (ours, theirs):
        wait_until(lambda a=agreement: objective_of(scenario, a["id"]), timeout=60, what="objectives")
    ingest(scenario, service["key"], minutes=range(1, 31), good=1000)
    wait_for_attainment(scenario, ours["id"], 1.0, total=30000)

    now = datetime.now(UTC).replace(second=0, microsecond=0)
    seen = {"kind": "unavailable", "summary": "Checkout returned errors for all our shops",
            "start": (now - timedelta(minutes=20)).isoformat(), "end": (now - timedelta(minutes=10)).isoformat(),
            "impact": "high", "reference": "NW-4411"}  # fmt: skip
    path = f"/v1/agreements/{ours['id']}/observations"
    scenario.call("POST", "measurement", path, 404, token=contoso_token, json=seen)  # not Contoso's agreement
    refused = scenario.http.post(
        scenario.urls["measurement"] + path,
        json={**seen, "end": seen["start"]},
        headers={"Authorization": f"Bearer {northwind_token}"},
    )
    assert refused.status_code == 422 and refused.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in refused.json()["errors"]] == ["end"]
    observation = scenario.call("POST", "measurement", path, 201, token=northwind_token, json=seen)
    assert observation["counts"] is True and observation["source"] == "customer-observed"
    assert observation["on_behalf"] is False

    # Ten of thirty minutes observed unavailable: their events count as bad for Northwind alone.
    ours_now = wait_for_attainment(scenario, ours["id"], 20000 / 30000)
    assert ours_now["customer_observed_minutes"] == 10
    assert objective_of(scenario, theirs["id"])["attainment"] == 1.0
    assert objective_of(scenario, theirs["id"], token=contoso_token)["attainment"] == 1.0

    one = f"/v1/observations/{observation['id']}"
    scenario.call("GET", "measurement", one, 404, token=contoso_token)
    for method in ("PUT", "PATCH", "DELETE"):
        assert scenario.http.request(
            method, scenario.urls["measurement"] + one, headers={"Authorization": f"Bearer {scenario.admin}"}
        ).status_code == 405  # fmt: skip
    note = {"note": "Confirmed: the card gateway timed out", "cause": "gateway certificate expired",
            "incident_ref": "INC-2201", "problem_ref": "PRB-77"}  # fmt: skip
    scenario.call("POST", "measurement", f"{one}/annotations", 403, token=northwind_token, json=note)
    scenario.call("POST", "measurement", f"{one}/annotations", 201, json=note)
    shown = scenario.call("GET", "measurement", one, 200, token=northwind_token)
    assert shown["summary"] == seen["summary"] and shown["start"] == observation["start"]  # as recorded
    assert [a["incident_ref"] for a in shown["annotations"]] == ["INC-2201"]
    listed = scenario.call("GET", "measurement", path, 200, token=northwind_token)
    assert listed["total"] == 1
    assert scenario.call("GET", "measurement", f"/v1/agreements/{theirs['id']}/observations", 200)["total"] == 0

    month = {"period": datetime.now(UTC).strftime("%Y-%m")}
    report = scenario.call(
        "GET", "measurement", f"/v1/agreements/{ours['id']}/report", 200, token=northwind_token, params=month
    )
    assert report["objectives"][0]["customer_observed_minutes"] == 10
    assert report["objectives"][0]["attainment"] < 0.999 and report["credit"]["customer_observed"] is True
    assert float(report["credit"]["percent"]) == 10.0
    assert report["observations"][0]["source"] == "customer-observed"
    assert report["observations"][0]["annotations"][0]["cause"] == "gateway certificate expired"
    html = scenario.http.get(
        scenario.urls["measurement"] + f"/v1/agreements/{ours['id']}/report",
        params={**month, "format": "html", "lang": "pl"},
        headers={"Authorization": f"Bearer {northwind_token}"},
    ).text
    assert "Obserwacje klienta" in html and "zaobserwowane przez klienta" in html and seen["summary"] in html
    other = scenario.call("GET", "measurement", f"/v1/agreements/{theirs['id']}/report", 200, params=month)
    assert other["observations"] == [] and other["objectives"][0]["customer_observed_minutes"] == 0

    delivered = wait_until(
        lambda: {r.json()["type"] for r in receiver.received} >= {
            "slm.measurement.observation.recorded.v1", "slm.measurement.observation.annotated.v1"},
        timeout=60, what="both observation events at the webhook",
    )  # fmt: skip
    assert delivered
    recorded = next(r.json() for r in receiver.received if r.json()["type"].endswith("observation.recorded.v1"))
    assert recorded["data"]["agreement_id"] == ours["id"] and recorded["data"]["counts"] is True

    # Withdrawn by the customer: on record still, counted no more.
    withdrawn = scenario.call("POST", "measurement", f"{one}/withdraw", 200, token=northwind_token)
    assert withdrawn["withdrawn_at"] is not None
    scenario.call("POST", "measurement", f"{one}/withdraw", 409, token=northwind_token)
    assert wait_for_attainment(scenario, ours["id"], 1.0)["customer_observed_minutes"] == 0


def test_without_terms_an_observation_is_recorded_on_behalf_and_not_counted(stack: Stack) -> None:
    scenario = scenario_on(stack)
    service, offering = scenario.create_offering()
    fabrikam, token = customer(scenario, "Fabrikam", "Olga Petrova")
    agreement = activated_sla(scenario, service, offering, fabrikam, token)
    wait_until(lambda: objective_of(scenario, agreement["id"]), timeout=60, what="the objective")
    ingest(scenario, service["key"], minutes=range(1, 11), good=1000)
    wait_for_attainment(scenario, agreement["id"], 1.0, total=10000)
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    observation = scenario.call(
        "POST", "measurement", f"/v1/agreements/{agreement['id']}/observations", 201,
        json={"summary": "Slow pages", "kind": "unavailable", "start": (now - timedelta(minutes=5)).isoformat(),
              "end": now.isoformat()},
    )  # fmt: skip
    assert observation["counts"] is False and observation["on_behalf"] is True
    scenario.call(
        "POST", "measurement", f"/v1/agreements/{agreement['id']}/observations", 422,
        json={"summary": "x", "start": now.isoformat(), "end": (now + timedelta(days=2)).isoformat()},
    )  # fmt: skip
    scenario.call(
        "POST", "measurement", f"/v1/agreements/{agreement['id']}/observations", 422,
        json={"summary": "x", "start": (now - timedelta(minutes=5)).isoformat(), "end": now.isoformat(),
              "objective_ids": ["not-an-objective"]},
    )  # fmt: skip
    assert objective_of(scenario, agreement["id"])["customer_observed_minutes"] == 0
