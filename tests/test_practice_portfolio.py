"""The portfolio: one tenant-wide read with filters, exposure, trends, risks, and proposals a manager accepts."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from practice_support import activated, customer, ingest, objective_of, scenario_on, service_with_offering

from tools.devstack import Stack
from tools.scenario import wait_until

pytestmark = pytest.mark.timeout(240)


def test_the_senior_managers_desk_shows_exposure_risks_and_drafts_proposals(stack: Stack) -> None:
    scenario = scenario_on(stack)
    shop, shop_gold = service_with_offering(scenario, "webshop", "Web shop", 0.999)
    payments, _ = service_with_offering(scenario, "payments", "Payments", 0.999)
    reporting, _ = service_with_offering(scenario, "reporting", "Reporting", 0.99)
    scenario.call(
        "POST", "catalog", f"/v1/services/{shop['id']}/dependencies", 201,
        json={"supporting_service_id": payments["id"]},
    )  # fmt: skip
    northwind, northwind_token = customer(scenario, "Northwind Traders", "Ana Silva")
    contoso, _ = customer(scenario, "Contoso", "Jan Kowalski")
    sla = activated(
        scenario, "SLA", "Northwind web shop SLA", shop, shop_gold, consumer=northwind,
        customer_token=northwind_token, override=True, service_credits=[{"below": 0.999, "credit_percent": "10"}],
        credit_terms={"cap_percent": "100", "partial_period": "full"},
    )  # fmt: skip
    wait_until(lambda: objective_of(scenario, sla["id"]), timeout=60, what="the SLA's objective")
    ingest(scenario, shop["key"], minutes=range(1, 11), good=900)
    wait_until(
        lambda: objective_of(scenario, sla["id"]).get("status") in ("at_risk", "breached"),
        timeout=60, what="the SLA objective to be in trouble",
    )  # fmt: skip
    month = datetime.now(UTC).strftime("%Y-%m")

    def desk(**params: str) -> dict:  # type: ignore[type-arg]
        return scenario.call("GET", "measurement", "/v1/portfolio", 200, params={"period": month, **params})

    def knows_services() -> dict | None:  # type: ignore[type-arg]
        read = desk()
        return read if reporting["key"] in {s["service_key"] for s in read["services_without_sla"]} else None

    found = wait_until(knows_services, timeout=60, what="the portfolio to know the catalogue's services")
    without = {s["service_key"]: s["name"] for s in found["services_without_sla"]}
    assert without[reporting["key"]] == "Reporting" and shop["key"] not in without
    uncovered = [s for s in found["slas_without_cover"] if s["agreement_id"] == sla["id"]]
    assert uncovered and uncovered[0]["uncovered_services"] == [payments["key"]]
    assert uncovered[0]["service_name"] == "Web shop"
    risky = [s for s in found["slas_with_chain_risk"] if s["agreement_id"] == sla["id"]]
    assert risky and risky[0]["risks"][0]["rule"] == "chain" and risky[0]["risks"][0]["accepted_by"] == "scenario-admin"
    latest = found["exposure"][-1]
    assert latest["period"] == month and len(found["exposure"]) == 3
    assert latest["revenue"] == {"EUR": "1000.00"} and latest["credits_owed"] == {"EUR": "100.00"}
    trend = next(t for t in found["trends"] if t["service_key"] == shop["key"])
    assert trend["service_name"] == "Web shop" and len(trend["objectives"][0]["trend"]) == 12
    assert trend["worst"][-1] == {"period": month, "attainment": pytest.approx(0.9)}
    troubled = [o for o in found["at_risk_now"] if o["agreement_id"] == sla["id"]]
    assert troubled and troubled[0]["status"] in ("at_risk", "breached")

    filtered = desk(customer=contoso["id"])
    assert filtered["at_risk_now"] == [] and filtered["trends"] == [] and filtered["slas_without_cover"] == []
    assert desk(service=reporting["key"])["exposure"][-1]["revenue"] == {}
    scenario.call("GET", "measurement", "/v1/portfolio", 403, token=northwind_token)
    scenario.call("GET", "measurement", "/v1/portfolio", 422, params={"period": "2026-13"})

    drafted = scenario.call(
        "POST", "measurement", "/v1/portfolio/proposals/draft", 201, params={"period": month, "lang": "pt"}
    )
    kinds = {(p["agreement_id"], p["kind"]) for p in drafted["drafted"]}
    assert (sla["id"], "improvement_action") in kinds
    act = next(p for p in drafted["drafted"] if p["kind"] == "improvement_action")
    assert act["reason_key"] == "proposal.improvement_action"  # the platform's words, in the reader's language
    assert act["reason"] in (
        "em risco agora: agir antes do fim do período",
        "violado agora: agir antes do fim do período",
    )
    in_ru = next(p for p in desk(lang="ru")["proposals"] if p["id"] == act["id"])
    assert in_ru["reason"].endswith("сейчас: действовать до конца периода")
    again = scenario.call("POST", "measurement", "/v1/portfolio/proposals/draft", 201, params={"period": month})
    assert again["drafted"] == []  # drafted once per period
    proposal = next(p for p in drafted["drafted"] if p["kind"] == "improvement_action")
    assert proposal["agreement_name"] == "Northwind web shop SLA"
    assert proposal["id"] in {p["id"] for p in desk()["proposals"]}
    path = f"/v1/portfolio/proposals/{proposal['id']}"
    scenario.call("POST", "measurement", f"{path}/accept", 403, token=northwind_token)
    accepted = scenario.call("POST", "measurement", f"{path}/accept", 200)
    assert accepted["status"] == "accepted" and accepted["decided_by"] == "scenario-admin"
    scenario.call("POST", "measurement", f"{path}/dismiss", 409)
    assert proposal["id"] not in {p["id"] for p in desk()["proposals"]}
