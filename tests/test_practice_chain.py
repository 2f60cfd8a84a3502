"""Diagnosis down the chain (every level) and early warning up it, through the running services."""

from __future__ import annotations

from typing import Any

import pytest
from practice_support import activated, customer, ingest, objective_of, party, scenario_on, service_with_offering

from tools.devstack import Stack
from tools.receiver import WebhookReceiver
from tools.scenario import wait_until

pytestmark = pytest.mark.timeout(240)


def test_a_supplier_two_levels_down_is_named_in_the_diagnosis_and_warns_the_sla_above(
    stack: Stack, receiver: WebhookReceiver
) -> None:
    scenario = scenario_on(stack)
    shop, shop_gold = service_with_offering(scenario, "webshop", "Web shop", 0.99)
    payments, payments_gold = service_with_offering(scenario, "payments", "Payments", 0.999)
    cardnet, cardnet_gold = service_with_offering(scenario, "cardnet", "Card network", 0.999)
    for upper, lower in ((shop, payments), (payments, cardnet)):
        scenario.call(
            "POST", "catalog", f"/v1/services/{upper['id']}/dependencies", 201,
            json={"supporting_service_id": lower["id"]},
        )  # fmt: skip
    team = party(scenario, "Payments team", "internal")
    supplier = party(scenario, "CardNet Ltd", "supplier")
    northwind, northwind_token = customer(scenario, "Northwind Traders", "Ana Silva")
    uc = activated(scenario, "UC", "CardNet contract", cardnet, cardnet_gold, consumer=team, provider=supplier)
    ola = activated(scenario, "OLA", "Payments OLA", payments, payments_gold, consumer=team)
    sla = activated(
        scenario, "SLA", "Northwind web shop SLA", shop, shop_gold, consumer=northwind, customer_token=northwind_token
    )
    scenario.call(
        "POST", "notifier", "/v1/subscriptions", 201,
        json={"name": "chain", "event_types": ["slm.measurement.chain.*"], "channel": "webhook",
              "target": {"url": receiver.url}, "filters": {"agreement_id": sla["id"]}},
    )  # fmt: skip
    for agreement in (uc, ola, sla):
        wait_until(lambda a=agreement: objective_of(scenario, a["id"]), timeout=60, what="objectives")

    ingest(scenario, cardnet["key"], minutes=range(1, 11), good=900)  # the supplier fails 10% of card checks
    ingest(scenario, payments["key"], minutes=range(1, 11), good=1000)
    ingest(scenario, shop["key"], minutes=range(1, 11), good=950)

    def warned() -> dict[str, Any] | None:
        for request in receiver.received:
            body = request.json()
            if body["type"] == "slm.measurement.chain.at_risk.v1":
                return body["data"]  # type: ignore[no-any-return]
        return None

    warning = wait_until(warned, timeout=90, what="the SLA to be warned of its supplier")
    assert warning["agreement_id"] == sla["id"] and warning["consumer_party_id"] == northwind["id"]
    assert warning["supporting_agreement_id"] == uc["id"] and warning["supporting_agreement_kind"] == "UC"
    assert warning["depth"] == 2 and warning["path"] == [shop["key"], payments["key"], cardnet["key"]]
    assert warning["status"] in ("at_risk", "breached") and warning["affected_objective_ids"]
    assert warning["agreement_name"] == "Northwind web shop SLA"

    sla_objective = objective_of(scenario, sla["id"])
    diagnosis = scenario.call("GET", "measurement", f"/v1/objectives/{sla_objective['id']}/chain", 200)
    assert [(s["service_key"], s["depth"]) for s in diagnosis["supporting_services"]] == [
        (payments["key"], 1), (cardnet["key"], 2)]  # fmt: skip
    assert diagnosis["attainment"] == pytest.approx(0.95)
    implicated = diagnosis["implicated"]
    assert [i["agreement_id"] for i in implicated] == [uc["id"]]
    assert implicated[0]["composable"] is True and implicated[0]["contribution"] == pytest.approx(1.0)
    assert implicated[0]["path"] == [shop["key"], payments["key"], cardnet["key"]]
    healthy = next(i for i in diagnosis["supporting_objectives"] if i["agreement_id"] == ola["id"])
    assert healthy["troubled_in_window"] == [] and healthy["contribution"] == 0.0
    assert diagnosis["uncovered_services"] == []
    scenario.call("GET", "measurement", f"/v1/objectives/{sla_objective['id']}/chain", 403, token=northwind_token)
