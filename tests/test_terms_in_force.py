"""Terms in force, across services: one answer to "which version is in force", and no silent refusals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tools.devstack import Stack
from tools.scenario import Scenario, wait_until


def urls(stack: Stack) -> dict[str, str]:
    return {name: stack.url(name) for name in stack.ports}


def in_force(scenario: Scenario, service: str, agreement_id: str, at: datetime) -> int | None:
    """The version the service says is in force at `at` (None for a 404)."""
    response = scenario.http.get(
        f"{scenario.urls[service]}/v1/agreements/{agreement_id}/versions/in-force",
        params={"at": at.isoformat()},
        headers={"Authorization": f"Bearer {scenario.admin}"},
    )
    assert response.status_code in (200, 404), response.text
    return response.json()["version"] if response.status_code == 200 else None


def agree_and_activate(scenario: Scenario, agreement_id: str, consumer: str) -> dict[str, Any]:
    from slm_shared.auth import issue_token

    customer = issue_token(scenario.secret, tenant=scenario.tenant, roles=["customer"], party=consumer)
    scenario.call("POST", "agreements", f"/v1/agreements/{agreement_id}/propose", 200)
    scenario.call("POST", "agreements", f"/v1/agreements/{agreement_id}/accept", 200)
    scenario.call("POST", "agreements", f"/v1/agreements/{agreement_id}/accept", 200, token=customer)
    return scenario.call("POST", "agreements", f"/v1/agreements/{agreement_id}/activate", 200)  # type: ignore[no-any-return]


def test_a_future_dated_amendment_is_not_in_force_yet_in_either_service(stack: Stack) -> None:
    scenario = Scenario(urls(stack))
    service, offering = scenario.create_offering()
    agreement = scenario.activate_sla(service, offering)
    agreement_id = agreement["id"]
    scenario.wait_for_objective(agreement_id)
    takes_effect = datetime.now(UTC).replace(microsecond=0) + timedelta(days=10)
    scenario.call(
        "POST", "agreements", f"/v1/agreements/{agreement_id}/amend", 200,
        json={"changes": {"effective_from": takes_effect.isoformat(), "review_cycle": "monthly"}},
    )  # fmt: skip
    activated = agree_and_activate(scenario, agreement_id, agreement["consumer_party_id"])
    assert (activated["state"], activated["version"], activated["in_force_version"]) == ("active", 2, 1)
    listed = scenario.call("GET", "agreements", f"/v1/agreements?service_id={service['id']}", 200)["items"]
    assert [(a["id"], a["in_force_version"]) for a in listed] == [(agreement_id, 1)]

    def measurement_knows_v2() -> bool:
        return in_force(scenario, "measurement", agreement_id, takes_effect + timedelta(days=1)) == 2

    wait_until(measurement_knows_v2, timeout=60, what="measurement to hear of version 2")
    now = datetime.now(UTC)
    for instant, expected in (
        (now, 1),
        (takes_effect - timedelta(seconds=1), 1),
        (takes_effect, 2),
        (takes_effect + timedelta(days=1), 2),
        (now - timedelta(days=400), None),
    ):
        answers = {name: in_force(scenario, name, agreement_id, instant) for name in ("agreements", "measurement")}
        assert answers == {"agreements": expected, "measurement": expected}, instant
    versions = scenario.call("GET", "agreements", f"/v1/agreements/{agreement_id}/versions", 200)["items"]
    first, second = (
        {name: datetime.fromisoformat(v[name]) if v[name] else None for name in ("in_force_from", "in_force_to")}
        for v in versions
    )
    assert first["in_force_to"] == second["in_force_from"] == takes_effect and second["in_force_to"] is None
    objectives = scenario.call("GET", "measurement", f"/v1/objectives?agreement_id={agreement_id}", 200)["items"]
    assert [o["agreement_version"] for o in objectives] == [1]  # the old terms are still the ones measured

    scenario.call("POST", "agreements", f"/v1/agreements/{agreement_id}/terminate", 200)
    after = datetime.now(UTC) + timedelta(seconds=1)

    def measurement_knows_the_end() -> bool:
        return in_force(scenario, "measurement", agreement_id, after) is None

    wait_until(measurement_knows_the_end, timeout=60, what="measurement to hear of the termination")
    for instant in (after, takes_effect + timedelta(days=1)):
        answers = {name: in_force(scenario, name, agreement_id, instant) for name in ("agreements", "measurement")}
        assert answers == {"agreements": None, "measurement": None}, instant
    assert {name: in_force(scenario, name, agreement_id, now) for name in ("agreements", "measurement")} == {
        "agreements": 1,
        "measurement": 1,
    }


def test_an_agreement_measurement_cannot_set_up_shows_not_measured_with_the_reason(stack: Stack) -> None:
    scenario = Scenario(urls(stack))
    service, offering = scenario.create_offering()
    customer = scenario.call("POST", "agreements", "/v1/parties", 201, json={"name": "Contoso", "kind": "customer"})
    sliced = {
        "indicator": "availability", "target": 0.999, "budgeting_method": "timeslices",
        "timeslice_seconds": 90, "timeslice_target": 0.9, "window": {"kind": "calendar", "unit": "month"},
    }  # fmt: skip
    agreement = scenario.call(
        "POST", "agreements", "/v1/agreements", 201,
        json={"kind": "SLA", "name": "Contoso SLA", "service_id": service["id"], "offering_id": offering["id"],
              "consumer_party_id": customer["id"], "objectives": [sliced],
              "maintenance_windows": [{"start": "2026-01-04T02:00:00Z", "rrule": "FREQ=WEEKLY;UNTIL=20270101T000000Z",
                                       "duration_minutes": 60, "timezone": "Europe/Lisbon"}]},
    )  # fmt: skip
    agree_and_activate(scenario, agreement["id"], customer["id"])

    def not_measured() -> Any:
        return scenario.call("GET", "agreements", f"/v1/agreements/{agreement['id']}", 200)["not_measured"]

    shown = wait_until(not_measured, timeout=60, what="agreements to hear that the agreement is not measured")
    assert shown["version"] == 1 and shown["field"] == "objectives"
    assert "timeslice_seconds 90" in shown["reason"]
    assert scenario.call("GET", "measurement", f"/v1/objectives?agreement_id={agreement['id']}", 200)["total"] == 0
