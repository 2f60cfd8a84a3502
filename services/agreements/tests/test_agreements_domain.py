"""Pure negotiation, activation, dependency, review and terms rules, without a database."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from pydantic import ValidationError

from slm_agreements import lifecycle
from slm_agreements.activation import rules
from slm_agreements.catalog.dependencies import transitive_supporting
from slm_agreements.lifecycle import Actor
from slm_agreements.negotiation.diff import diff_versions
from slm_agreements.reviews.schedule import add_months, review_dates
from slm_agreements.terms import MaintenanceWindow, date_problems
from slm_shared.contracts.targets import Target

CUSTOMER = Actor(subject="cora", role="customer", is_staff=False, party="p")
MONTH = {"kind": "calendar", "unit": "month"}


def target(objective: float = 0.999, **changes: object) -> Target:
    return Target.model_validate({"indicator": "availability", "target": objective, "window": MONTH, **changes})


def snapshot(**changes: object) -> dict:
    base = {
        "objectives": [{"id": "o1", "indicator": "availability", "target": 0.999, "position": 0}],
        "ticket_targets": [{"priority": "P1", "response_seconds": 900}],
        "service_credits": [{"below": 0.999, "down_to": 0.99, "credit_percent": "10"}],
        "price": {"amount": "100", "currency": "EUR", "period": "month"},
        "maintenance_windows": [],
        "effective_from": "2030-01-01T00:00:00+00:00",
        "effective_to": None,
        "review_cycle": "quarterly",
        "renewal_notice_days": None,
        "timezone": "UTC",
        "support_calendar": None,
    }
    return {**base, **changes}


def test_negotiation_transitions() -> None:
    assert lifecycle.target_state("counter", "proposed") == "countered"
    assert lifecycle.target_state("counter", "countered") == "countered"
    assert lifecycle.target_state("propose", "countered") == "proposed"
    assert lifecycle.target_state("accept", "countered") == "agreed"
    assert lifecycle.target_state("amend", "active") == "draft"
    assert lifecycle.target_state("terminate", "draft", in_force=True) == "terminated"
    for action, state in (("counter", "draft"), ("amend", "agreed"), ("terminate", "draft"), ("counter", "agreed")):
        with pytest.raises(lifecycle.IllegalTransition):
            lifecycle.target_state(action, state)  # type: ignore[arg-type]
    lifecycle.check_actor("propose", CUSTOMER, "countered")
    lifecycle.check_actor("counter", CUSTOMER, "proposed")
    with pytest.raises(lifecycle.NotPermitted):
        lifecycle.check_actor("amend", CUSTOMER, "active")


def test_diff_names_every_changed_section() -> None:
    after = snapshot(
        objectives=[
            {"id": "o1", "indicator": "availability", "target": 0.9995, "position": 0},
            {"id": "o2", "indicator": "latency", "target": 0.95, "position": 1},
        ],
        ticket_targets=[],
        service_credits=[{"below": 0.999, "down_to": 0.99, "credit_percent": "25"}],
        price={"amount": "150", "currency": "EUR", "period": "month"},
        maintenance_windows=[{"start": "2030-01-05T02:00:00+00:00", "rrule": "FREQ=WEEKLY", "duration_minutes": 60}],
        review_cycle="monthly",
    )
    changes = {(c["section"], c["key"], c["change"]): c for c in diff_versions(snapshot(), after)}
    assert set(changes) == {
        ("objectives", "availability", "changed"),
        ("objectives", "latency", "added"),
        ("ticket_targets", "P1", "removed"),
        ("service_credits", "below 0.999", "changed"),
        ("price", "price", "changed"),
        ("maintenance_windows", "2030-01-05T02:00:00+00:00 FREQ=WEEKLY", "added"),
        ("terms", "review_cycle", "changed"),
    }
    objective = changes[("objectives", "availability", "changed")]
    assert (objective["before"], objective["after"]) == ({"target": 0.999}, {"target": 0.9995})
    assert diff_versions(snapshot(), snapshot()) == []


def test_chain_gaps_name_the_service_and_the_shortfall() -> None:
    supporting = [("db", "database"), ("net", "network"), ("dns", "dns")]
    commitments = {
        "db": [rules.Commitment("a1", "OLA", 0.9995)],
        "net": [rules.Commitment("a2", "UC", 0.998), rules.Commitment("a3", "UC", 0.9999)],
    }
    gaps = rules.chain_gaps([target(0.9995)], supporting, commitments)
    assert [(g.service_key, g.rule) for g in gaps] == [("dns", "chain"), ("database", "chain")]
    assert "not covered" in gaps[0].message
    product = gaps[1]
    assert product.shortfall == pytest.approx(0.9995 - 0.9995 * 0.9999)
    assert "multiply" in product.message and product.overridable


def test_a_single_weak_commitment_is_its_own_gap() -> None:
    gaps = rules.chain_gaps([target(0.999)], [("db", "database")], {"db": [rules.Commitment("a", "OLA", 0.99)]})
    assert [(g.service_key, g.shortfall) for g in gaps] == [("database", pytest.approx(0.009))]
    assert rules.chain_gaps([target(0.99)], [("db", "database")], {"db": [rules.Commitment("a", "OLA", 0.999)]}) == []
    latency = target(0.95, indicator="latency", indicator_kind="threshold", value=300, op="lte")
    assert not rules.is_availability(latency)
    uncommitted = rules.chain_gaps([target()], [("db", "database")], {"db": [rules.Commitment("a", "OLA", None)]})
    assert "no availability" in uncommitted[0].message


def test_measurability_overlap_and_dates() -> None:
    gaps = rules.measurability_gaps(
        [target(), target(indicator="made_up"), target(indicator="latency")],
        {"availability": "ratio", "latency": "threshold", "made_up": None},
    )
    assert [g.field for g in gaps] == ["objectives.1.indicator", "objectives.2.indicator_kind"]
    start, end = datetime(2030, 1, 1, tzinfo=UTC), datetime(2031, 1, 1, tzinfo=UTC)
    other = rules.OtherAgreement("x", "Other", datetime(2030, 6, 1, tzinfo=UTC), None)
    assert [g.rule for g in rules.overlap_gaps(start, end, [other])] == ["overlap"]
    assert rules.overlap_gaps(start, datetime(2030, 6, 1, tzinfo=UTC), [other]) == []
    assert [g.field for g in rules.date_gaps(start, end, None, datetime(2032, 1, 1, tzinfo=UTC))] == ["effective_to"]
    assert set(date_problems(start, end, 400)) == {"renewal_notice_days"}


def test_transitive_supporting_services_each_once_at_the_shallowest_depth() -> None:
    edges = [("app", "db", "database"), ("app", "net", "network"), ("db", "net", "network"), ("db", "disk", "disk")]
    found = transitive_supporting(edges, "app")
    assert [(s.key, s.depth) for s in found] == [("database", 1), ("network", 1), ("disk", 2)]
    assert transitive_supporting([("a", "b", "b"), ("b", "a", "a")], "a")[0].key == "b"


def test_review_dates_follow_the_cycle() -> None:
    assert add_months(date(2030, 1, 31), 1) == date(2030, 2, 28)
    dates = review_dates(date(2030, 1, 15), "quarterly", after=date(2030, 3, 1), end=date(2031, 1, 1))
    assert dates == [date(2030, 4, 15), date(2030, 7, 15), date(2030, 10, 15)]
    assert len(review_dates(date(2030, 1, 1), "monthly", after=date(2030, 1, 1), end=None)) == 12


@pytest.mark.parametrize(
    "window",
    [
        {"start": "2030-01-01T00:00:00Z"},
        {"start": "2030-01-01T00:00:00Z", "end": "2029-01-01T00:00:00Z"},
        {"start": "2030-01-01T00:00:00Z", "rrule": "FREQ=WEEKLY"},
        {"start": "2030-01-01T00:00:00Z", "rrule": "FREQ=SOMETIMES", "duration_minutes": 60},
        {"start": "2030-01-01T00:00:00Z", "end": "2030-01-02T00:00:00Z", "timezone": "Mars/Olympus"},
    ],
)
def test_bad_maintenance_windows_are_refused(window: dict) -> None:
    with pytest.raises(ValidationError):
        MaintenanceWindow.model_validate(window)


def test_good_maintenance_windows() -> None:
    MaintenanceWindow.model_validate({"start": "2030-01-01T00:00:00Z", "end": "2030-01-01T02:00:00Z"})
    MaintenanceWindow.model_validate(
        {"start": "2030-01-05T02:00:00Z", "rrule": "FREQ=WEEKLY;BYDAY=SU", "duration_minutes": 120}
    )
