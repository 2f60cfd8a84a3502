"""Helpers for the practice tests: customers with their own SLAs, measurements, customer tokens."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from slm_shared.auth import issue_token
from tools.devstack import Stack
from tools.scenario import Scenario, wait_until


def scenario_on(stack: Stack) -> Scenario:
    return Scenario({name: stack.url(name) for name in stack.ports})


def customer(scenario: Scenario, name: str, contact: str) -> tuple[dict[str, Any], str]:
    """A customer party with one contact, and a customer token for it."""
    party = scenario.call(
        "POST", "agreements", "/v1/parties", 201,
        json={"name": name, "kind": "customer",
              "contacts": [{"name": contact, "email": f"{contact.split()[0].lower()}@example.com",
                            "role": "service_level_manager", "escalation_level": 1}]},
    )  # fmt: skip
    token = issue_token(scenario.secret, tenant=scenario.tenant, roles=["customer"], party=party["id"])
    return party, token


def activated_sla(
    scenario: Scenario,
    service: dict[str, Any],
    offering: dict[str, Any],
    party: dict[str, Any],
    token: str,
    **terms: Any,
) -> dict[str, Any]:
    """An SLA for one customer, negotiated and put in force (agreed back to an hour ago), with any extra terms."""
    terms.setdefault("effective_from", (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0).isoformat())
    agreement = scenario.call(
        "POST", "agreements", "/v1/agreements", 201,
        json={"kind": "SLA", "name": f"{party['name']} payments SLA", "service_id": service["id"],
              "offering_id": offering["id"], "consumer_party_id": party["id"], **terms},
    )  # fmt: skip
    scenario.call("POST", "agreements", f"/v1/agreements/{agreement['id']}/propose", 200)
    scenario.call("POST", "agreements", f"/v1/agreements/{agreement['id']}/accept", 200)
    scenario.call("POST", "agreements", f"/v1/agreements/{agreement['id']}/accept", 200, token=token)
    return scenario.call("POST", "agreements", f"/v1/agreements/{agreement['id']}/activate", 200)  # type: ignore[no-any-return]


def ingest(
    scenario: Scenario, service_key: str, *, minutes: range, good: float, total: float = 1000, scope: str = ""
) -> None:
    """Event counts for each minute `minutes` ago (whole minutes), in one scope."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    points = [
        {"service": service_key, "indicator": "availability", "scope": scope,
         "timestamp": (now - timedelta(minutes=m)).isoformat(), "good": good, "total": total}
        for m in minutes
    ]  # fmt: skip
    scenario.call("POST", "measurement", "/v1/measurements", 202, json=points)


def objective_of(scenario: Scenario, agreement_id: str, token: str | None = None) -> dict[str, Any]:
    page = scenario.call("GET", "measurement", f"/v1/objectives?agreement_id={agreement_id}", 200, token=token)
    return page["items"][0] if page["items"] else {}


def wait_for_attainment(
    scenario: Scenario, agreement_id: str, expected: float, *, total: float | None = None, timeout: float = 60
) -> dict[str, Any]:
    """The agreement's objective once its attainment (and total, when given) is what is expected."""

    def reached() -> dict[str, Any] | None:
        found = objective_of(scenario, agreement_id)
        if found.get("attainment") is None or abs(found["attainment"] - expected) > 1e-9:
            return None
        return found if total is None or found["total"] == total else None

    return wait_until(reached, timeout=timeout, what=f"attainment {expected} of {agreement_id}")  # type: ignore[no-any-return]


def service_with_offering(
    scenario: Scenario, key: str, name: str, target: float
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A catalogue service and its published Gold offering (availability per calendar month)."""
    service = scenario.call(
        "POST", "catalog", "/v1/services", 201,
        json={"key": f"{key}-{scenario.suffix}", "name": name, "type": "business", "owner_team": "Platform"},
    )  # fmt: skip
    offering = scenario.call(
        "POST", "catalog", f"/v1/services/{service['id']}/offerings", 201,
        json={"name": "Gold", "price": {"amount": "1000.00", "currency": "EUR", "period": "month"},
              "targets": [{"indicator": "availability", "target": target,
                           "window": {"kind": "calendar", "unit": "month", "timezone": "UTC"}}]},
    )  # fmt: skip
    offering = scenario.call("POST", "catalog", f"/v1/offerings/{offering['id']}/publish", 200)
    return service, offering


def party(scenario: Scenario, name: str, kind: str) -> dict[str, Any]:
    return scenario.call("POST", "agreements", "/v1/parties", 201, json={"name": name, "kind": kind})  # type: ignore[no-any-return]


def activated(
    scenario: Scenario,
    kind: str,
    name: str,
    service: dict[str, Any],
    offering: dict[str, Any],
    *,
    consumer: dict[str, Any],
    provider: dict[str, Any] | None = None,
    customer_token: str | None = None,
    override: bool = False,
    **terms: Any,
) -> dict[str, Any]:
    """An agreement of any kind, agreed by both sides and put in force (agreed back to an hour ago)."""
    terms.setdefault("effective_from", (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0).isoformat())
    body = {"kind": kind, "name": name, "service_id": service["id"], "offering_id": offering["id"],
            "consumer_party_id": consumer["id"], **terms}  # fmt: skip
    if provider is not None:
        body["provider_party_id"] = provider["id"]
    agreement = scenario.call("POST", "agreements", "/v1/agreements", 201, json=body)
    path = f"/v1/agreements/{agreement['id']}"
    scenario.call("POST", "agreements", f"{path}/propose", 200)
    scenario.call("POST", "agreements", f"{path}/accept", 200)
    if customer_token is not None:  # staff speak for internal teams and suppliers; a customer accepts itself
        scenario.call("POST", "agreements", f"{path}/accept", 200, token=customer_token)
    return scenario.call(  # type: ignore[no-any-return]
        "POST", "agreements", f"{path}/activate", 200, json={"override": True} if override else None
    )  # type: ignore[no-any-return]
