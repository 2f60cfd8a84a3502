"""Reviews scheduled on a chosen date, and a request for change raised once per action."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from practice_support import activated, customer, scenario_on, service_with_offering

from tools.devstack import Stack

pytestmark = pytest.mark.timeout(180)


def test_a_review_on_a_chosen_date_and_a_change_requested_once(stack: Stack) -> None:
    scenario = scenario_on(stack)
    shop, gold = service_with_offering(scenario, "webshop", "Web shop", 0.999)
    northwind, token = customer(scenario, "Northwind Traders", "Ana Silva")
    sla = activated(scenario, "SLA", "Northwind web shop SLA", shop, gold, consumer=northwind, customer_token=token)
    reviews = f"/v1/agreements/{sla['id']}/reviews"
    chosen = (datetime.now(UTC) + timedelta(days=12)).date().isoformat()
    scheduled = scenario.call("POST", "agreements", f"{reviews}/scheduled", 201, json={"due_on": chosen})
    assert (scheduled["due_on"], scheduled["status"]) == (chosen, "scheduled")
    again = scenario.call("POST", "agreements", f"{reviews}/scheduled", 201, json={"due_on": chosen})
    assert again["id"] == scheduled["id"]  # one review per chosen date
    listed = scenario.call("GET", "agreements", reviews, 200, token=token)
    assert [r["id"] for r in listed if r["due_on"] == chosen] == [scheduled["id"]]
    past = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    refused = scenario.http.post(
        scenario.urls["agreements"] + f"{reviews}/scheduled",
        json={"due_on": past},
        headers={"Authorization": f"Bearer {scenario.admin}"},
    )
    assert refused.status_code == 422 and [e["field"] for e in refused.json()["errors"]] == ["due_on"]
    scenario.call("POST", "agreements", f"{reviews}/scheduled", 403, token=token, json={"due_on": chosen})

    action = scenario.call(
        "POST", "agreements", f"/v1/agreements/{sla['id']}/actions", 201,
        json={"title": "Add a second card gateway", "owner": "Ana Silva", "due_on": chosen},
    )  # fmt: skip
    assert (action["owner"], action["owner_email"], action["owner_party_id"]) == (
        "Ana Silva",
        "ana@example.com",
        northwind["id"],
    )  # the owner is the customer's contact, found by name
    stranger = scenario.http.post(
        scenario.urls["agreements"] + f"/v1/agreements/{sla['id']}/actions",
        json={"title": "Nobody's", "owner": "scenario-admin", "due_on": chosen},
        headers={"Authorization": f"Bearer {scenario.admin}"},
    )  # a token subject is not a contact
    assert stranger.status_code == 422 and [e["field"] for e in stranger.json()["errors"]] == ["owner"]
    by_mail = scenario.call(
        "PATCH", "agreements", f"/v1/actions/{action['id']}", 200, json={"owner": "ANA@example.com"}
    )
    assert by_mail["owner"] == "Ana Silva"
    change = f"/v1/actions/{action['id']}/change-request"
    raised = scenario.call("POST", "agreements", change, 202, json={"priority": "high"})
    second = scenario.http.post(
        scenario.urls["agreements"] + change, json={}, headers={"Authorization": f"Bearer {scenario.admin}"}
    )
    assert second.status_code == 409 and "already requested" in second.json()["detail"]
    assert scenario.call("GET", "agreements", f"/v1/actions/{action['id']}", 200)["change_requested_at"]
    listed = scenario.call("GET", "agreements", f"/v1/agreements/{sla['id']}/change-requests", 200, token=token)
    assert [(c["change_request_id"], c["action_id"], c["status"]) for c in listed] == [
        (raised["change_request_id"], action["id"], "requested")
    ]


def test_a_review_on_a_chosen_date_survives_a_new_version_re_planning_the_cycle(stack: Stack) -> None:
    scenario = scenario_on(stack)
    shop, gold = service_with_offering(scenario, "bookshop", "Book shop", 0.999)
    northwind, token = customer(scenario, "Northwind Books", "Ana Silva")
    sla = activated(scenario, "SLA", "Northwind book shop SLA", shop, gold, consumer=northwind, customer_token=token)
    path = f"/v1/agreements/{sla['id']}"
    before = scenario.call("GET", "agreements", f"{path}/reviews", 200)
    assert before and {r["planned"] for r in before} == {"cycle"}  # quarterly, planned at activation
    chosen = (datetime.now(UTC) + timedelta(days=12)).date().isoformat()
    scheduled = scenario.call("POST", "agreements", f"{path}/reviews/scheduled", 201, json={"due_on": chosen})
    assert scheduled["planned"] == "chosen"

    scenario.call("POST", "agreements", f"{path}/amend", 200, json={"changes": {"review_cycle": "monthly"}})
    scenario.call("POST", "agreements", f"{path}/propose", 200)
    scenario.call("POST", "agreements", f"{path}/accept", 200)
    scenario.call("POST", "agreements", f"{path}/accept", 200, token=token)
    renewed = scenario.call("POST", "agreements", f"{path}/activate", 200)
    assert (renewed["version"], renewed["in_force_version"]) == (2, 2)

    after = scenario.call("GET", "agreements", f"{path}/reviews", 200, token=token)
    kept = [r for r in after if r["planned"] == "chosen"]
    assert [(r["id"], r["due_on"], r["status"]) for r in kept] == [(scheduled["id"], chosen, "scheduled")]
    cycle = [r for r in after if r["planned"] == "cycle"]
    assert not {r["id"] for r in before} & {r["id"] for r in cycle}  # the old cycle's reviews were re-planned
    months = sorted({date.fromisoformat(r["due_on"]).month for r in cycle})
    assert len(cycle) >= 11 and len(months) >= 11  # monthly now, a year ahead
