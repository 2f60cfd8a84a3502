"""Each SLA measures its own customer: objectives, reports and credits read the agreement's scope only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from practice_support import activated_sla, customer, ingest, objective_of, scenario_on, wait_for_attainment

from tools.devstack import Stack
from tools.scenario import wait_until

pytestmark = pytest.mark.timeout(180)


def test_one_customers_bad_minutes_never_move_another_customers_figures(stack: Stack) -> None:
    scenario = scenario_on(stack)
    service, offering = scenario.create_offering()
    northwind, northwind_token = customer(scenario, "Northwind Traders", "Ana Silva")
    contoso, contoso_token = customer(scenario, "Contoso", "Jan Kowalski")
    internal, internal_token = customer(scenario, "Woodgrove Bank", "Lena Berg")
    credits = {"service_credits": [{"below": 0.999, "credit_percent": "10"}]}
    scenario.call(
        "POST", "agreements", "/v1/agreements", 422,
        json={"kind": "SLA", "name": "bad", "service_id": service["id"], "offering_id": offering["id"],
              "consumer_party_id": northwind["id"], "measured_scope": "everyone"},
    )  # fmt: skip
    ours = activated_sla(scenario, service, offering, northwind, northwind_token, measured_scope="customer", **credits)
    theirs = activated_sla(scenario, service, offering, contoso, contoso_token, measured_scope="customer", **credits)
    whole = activated_sla(scenario, service, offering, internal, internal_token, **credits)
    version = scenario.call("GET", "agreements", f"/v1/agreements/{ours['id']}/versions/1", 200)
    assert version["measured_scope"] == "customer"
    assert scenario.call("GET", "agreements", f"/v1/agreements/{whole['id']}/versions/1", 200)["measured_scope"] == (
        "service"
    )
    for agreement in (ours, theirs, whole):
        wait_until(lambda a=agreement: objective_of(scenario, a["id"]), timeout=60, what="objectives")
    assert objective_of(scenario, ours["id"])["scope"] == northwind["id"]
    assert objective_of(scenario, whole["id"])["scope"] is None

    ingest(scenario, service["key"], minutes=range(1, 11), good=1000, scope=northwind["id"])
    ingest(scenario, service["key"], minutes=range(1, 11), good=500, scope=contoso["id"])
    assert wait_for_attainment(scenario, ours["id"], 1.0, total=10000)["status"] == "healthy"
    assert wait_for_attainment(scenario, theirs["id"], 0.5, total=10000)["total"] == 10000
    assert wait_for_attainment(scenario, whole["id"], 0.75, total=20000)["good"] == 15000
    seen_by_northwind = objective_of(scenario, ours["id"], token=northwind_token)
    assert (seen_by_northwind["attainment"], seen_by_northwind["scope"]) == (1.0, northwind["id"])

    month = {"period": datetime.now(UTC).strftime("%Y-%m")}
    reports = {
        name: scenario.call("GET", "measurement", f"/v1/agreements/{a['id']}/report", 200, params=month)
        for name, a in (("ours", ours), ("theirs", theirs), ("whole", whole))
    }
    assert reports["ours"]["objectives"][0]["attainment"] == 1.0
    assert float(reports["ours"]["credit"]["percent"]) == 0
    assert reports["theirs"]["objectives"][0]["attainment"] == 0.5
    assert float(reports["theirs"]["credit"]["percent"]) == 10
    assert reports["whole"]["objectives"][0]["total"] == 20000

    # A customer reads its own scope of the series, never the other customer's nor the sum of all.
    now = datetime.now(UTC)
    window = {
        "service": service["key"],
        "indicator": "availability",
        "granularity": "minute",
        "start": (now - timedelta(minutes=30)).isoformat(),
        "end": (now + timedelta(minutes=1)).isoformat(),
    }
    found = scenario.call(
        "GET", "measurement", "/v1/series", 200, token=northwind_token, params={**window, "scope": northwind["id"]}
    )
    assert sum(b["good"] for b in found["buckets"]) == 10000
    scenario.call(
        "GET", "measurement", "/v1/series", 404, token=northwind_token, params={**window, "scope": contoso["id"]}
    )
    scenario.call("GET", "measurement", "/v1/series", 404, token=northwind_token, params=window)
    summed = scenario.call("GET", "measurement", "/v1/series", 200, token=internal_token, params=window)
    assert sum(b["total"] for b in summed["buckets"]) == 20000
