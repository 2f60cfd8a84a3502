"""The portfolio's reviews and renewals due and overdue actions, as the agreements service announces them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import FAST
from practice_support import activated, customer, scenario_on, service_with_offering

from tools.devstack import Stack
from tools.scenario import wait_until

pytestmark = pytest.mark.timeout(240)


@pytest.fixture
def busy_stack(tmp_path: Path) -> Iterator[Stack]:
    """The stack with the agreements service's scheduled jobs (reviews, renewals, overdue actions) run often."""
    running = Stack.on_free_ports(tmp_path / "stack", extra_env={**FAST, "AGREEMENTS_JOBS_INTERVAL_SECONDS": "1"})
    try:
        running.start()
        yield running
    finally:
        running.stop()


def test_the_desk_lists_reviews_and_renewals_due_and_overdue_actions(busy_stack: Stack) -> None:
    scenario = scenario_on(busy_stack)
    shop, gold = service_with_offering(scenario, "giftshop", "Gift shop", 0.999)
    northwind, token = customer(scenario, "Northwind Gifts", "Ana Silva")
    contoso, _ = customer(scenario, "Contoso", "Jan Kowalski")
    now = datetime.now(UTC).replace(microsecond=0)
    sla = activated(
        scenario, "SLA", "Northwind gift shop SLA", shop, gold, consumer=northwind, customer_token=token,
        effective_to=(now + timedelta(days=60)).isoformat(),
    )  # fmt: skip
    path = f"/v1/agreements/{sla['id']}"
    review_on = (now + timedelta(days=5)).date().isoformat()
    review = scenario.call("POST", "agreements", f"{path}/reviews/scheduled", 201, json={"due_on": review_on})
    yesterday = (now - timedelta(days=1)).date().isoformat()
    late = scenario.call(
        "POST", "agreements", f"{path}/actions", 201,
        json={"title": "Second card gateway", "owner": "Ana Silva", "due_on": yesterday},
    )  # fmt: skip
    on_time = scenario.call(
        "POST", "agreements", f"{path}/actions", 201,
        json={"title": "Load test", "owner": "Ana Silva", "due_on": (now + timedelta(days=9)).date().isoformat()},
    )  # fmt: skip
    month = now.strftime("%Y-%m")

    def desk(**params: str) -> dict[str, Any]:
        return scenario.call("GET", "measurement", "/v1/portfolio", 200, params={"period": month, **params})  # type: ignore[no-any-return]

    def all_in() -> dict[str, Any] | None:
        read = desk()
        reviews = [r for r in read["reviews_due"] if r["agreement_id"] == sla["id"]]
        overdue = [a for a in read["overdue_actions"] if a["agreement_id"] == sla["id"]]
        return read if reviews and overdue else None

    found = wait_until(all_in, timeout=90, what="the portfolio to hear of the review due and the overdue action")
    (due,) = [r for r in found["reviews_due"] if r["review_id"] == review["id"]]
    assert (due["due_on"], due["overdue"], due["agreement_name"]) == (review_on, False, "Northwind gift shop SLA")
    overdue = [a for a in found["overdue_actions"] if a["agreement_id"] == sla["id"]]
    assert [(a["action_id"], a["title"], a["due_on"]) for a in overdue] == [
        (late["id"], "Second card gateway", yesterday)
    ]
    assert on_time["id"] not in {a["action_id"] for a in found["overdue_actions"]}
    (renewal,) = [r for r in found["renewals_due"] if r["agreement_id"] == sla["id"]]
    assert renewal["name"] == "Northwind gift shop SLA"
    assert datetime.fromisoformat(renewal["effective_to"]) == now + timedelta(days=60)

    other = desk(customer=contoso["id"])  # another customer's desk shows none of it
    assert sla["id"] not in {
        r["agreement_id"] for k in ("reviews_due", "renewals_due", "overdue_actions") for r in other[k]
    }
    scenario.call("GET", "measurement", "/v1/portfolio", 403, token=token)

    scenario.call("PATCH", "agreements", f"/v1/actions/{late['id']}", 200, json={"status": "done"})
    wait_until(
        lambda: late["id"] not in {a["action_id"] for a in desk()["overdue_actions"]},
        timeout=60, what="a done action to leave the overdue list",
    )  # fmt: skip
