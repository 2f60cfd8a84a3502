"""Pure lifecycle and objective rules, without a database."""

from __future__ import annotations

import pytest

from slm_agreements import lifecycle
from slm_agreements.lifecycle import Actor, Parties
from slm_agreements.objectives import ObjectiveDraft, measurability_problems, merge_objectives, objective_problems
from slm_shared.contracts.payloads import WindowV1
from slm_shared.contracts.targets import Target

STAFF = Actor(subject="sam", role="manager", is_staff=True)
CUSTOMER = Actor(subject="cora", role="customer", is_staff=False, party="p-customer")
STRANGER = Actor(subject="sid", role="customer", is_staff=False, party="p-other")
SLA_PARTIES = Parties(consumer_party_id="p-customer", consumer_kind="customer")
OLA_PARTIES = Parties(consumer_party_id="p-team", consumer_kind="internal")
UC_PARTIES = Parties(
    consumer_party_id="p-team", consumer_kind="internal", provider_party_id="p-supplier", provider_kind="supplier"
)


def target(**changes: object) -> Target:
    base = {"indicator": "availability", "target": 0.999, "window": {"kind": "calendar", "unit": "month"}}
    return Target.model_validate({**base, **changes})


@pytest.mark.parametrize(
    ("action", "state", "expected"),
    [
        ("propose", "draft", "proposed"),
        ("accept", "proposed", "agreed"),
        ("activate", "agreed", "active"),
        ("terminate", "active", "terminated"),
        ("terminate", "proposed", "terminated"),
        ("expire", "active", "expired"),
    ],
)
def test_legal_transitions(action: lifecycle.Action, state: lifecycle.State, expected: str) -> None:
    assert lifecycle.target_state(action, state) == expected


@pytest.mark.parametrize(
    ("action", "state"),
    [
        ("activate", "draft"),
        ("activate", "proposed"),
        ("propose", "active"),
        ("accept", "draft"),
        ("terminate", "draft"),
        ("terminate", "terminated"),
        ("expire", "agreed"),
        ("propose", "expired"),
    ],
)
def test_illegal_transitions_name_the_state(action: lifecycle.Action, state: lifecycle.State) -> None:
    with pytest.raises(lifecycle.IllegalTransition) as raised:
        lifecycle.target_state(action, state)
    assert raised.value.state == state
    assert state in str(raised.value)


@pytest.mark.parametrize("action", ["propose", "activate", "terminate"])
def test_customers_cannot_take_staff_actions(action: lifecycle.Action) -> None:
    with pytest.raises(lifecycle.NotPermitted):
        lifecycle.check_actor(action, CUSTOMER)
    lifecycle.check_actor(action, STAFF)


def test_sla_needs_both_the_provider_and_the_customer() -> None:
    first = lifecycle.accept("proposed", frozenset(), STAFF, SLA_PARTIES)
    assert first.added == {"provider"} and first.state == "proposed"
    second = lifecycle.accept("proposed", first.added, CUSTOMER, SLA_PARTIES)
    assert second.added == {"consumer"} and second.state == "agreed"


def test_customer_first_then_staff_also_agrees() -> None:
    first = lifecycle.accept("proposed", frozenset(), CUSTOMER, SLA_PARTIES)
    assert first.state == "proposed"
    assert lifecycle.accept("proposed", first.added, STAFF, SLA_PARTIES).state == "agreed"


def test_another_customer_cannot_accept() -> None:
    with pytest.raises(lifecycle.NotPermitted):
        lifecycle.accept("proposed", frozenset(), STRANGER, SLA_PARTIES)


@pytest.mark.parametrize("parties", [OLA_PARTIES, UC_PARTIES])
def test_staff_acceptance_counts_for_both_when_no_customer_is_involved(parties: Parties) -> None:
    outcome = lifecycle.accept("proposed", frozenset(), STAFF, parties)
    assert outcome.added == lifecycle.BOTH_SIDES and outcome.state == "agreed"


def test_accepting_twice_is_refused() -> None:
    with pytest.raises(lifecycle.AlreadyAccepted):
        lifecycle.accept("proposed", frozenset({"provider"}), STAFF, SLA_PARTIES)


def test_accepting_outside_proposed_is_illegal() -> None:
    with pytest.raises(lifecycle.IllegalTransition):
        lifecycle.accept("agreed", frozenset(), CUSTOMER, SLA_PARTIES)


def test_party_kinds_per_agreement_kind() -> None:
    assert lifecycle.party_kind_problems("SLA", SLA_PARTIES) == {}
    assert lifecycle.party_kind_problems("UC", UC_PARTIES) == {}
    assert set(lifecycle.party_kind_problems("SLA", OLA_PARTIES)) == {"consumer_party_id"}
    assert set(lifecycle.party_kind_problems("UC", OLA_PARTIES)) == {"provider_party_id"}
    assert lifecycle.party_kind_problems("expectation", SLA_PARTIES) == {}


def test_measurability() -> None:
    assert measurability_problems(target()) == {}
    assert set(measurability_problems(target(window={"kind": "rolling"}))) == {"window.duration"}
    assert set(measurability_problems(target(window={"kind": "rolling", "duration": "soon"}))) == {"window.duration"}
    assert set(measurability_problems(target(window={"kind": "calendar"}))) == {"window.unit"}
    assert set(measurability_problems(target().model_copy(update={"target": 0.0}))) == {"target"}
    assert set(measurability_problems(target().model_copy(update={"target": 1.2}))) == {"target"}
    assert set(measurability_problems(target(indicator=" "))) == {"indicator"}
    assert set(measurability_problems(target(indicator_kind="threshold"))) == {"op", "value"}
    assert set(measurability_problems(target(budgeting_method="timeslices"))) == {
        "timeslice_seconds",
        "timeslice_target",
    }


def test_objective_problems_name_the_field_path() -> None:
    drafts = [ObjectiveDraft(target()), ObjectiveDraft(target(window=WindowV1(kind="rolling")))]
    assert list(objective_problems(drafts)) == ["objectives.1.window.duration"]


def test_overrides_replace_targets_on_the_same_indicator_and_add_new_ones() -> None:
    offering = [target(), target(indicator="latency", indicator_kind="threshold", op="lte", value=300)]
    overrides = [
        ObjectiveDraft(target(target=0.9995), name="Availability"),
        ObjectiveDraft(target(indicator="mttr")),
    ]
    merged = merge_objectives(offering, overrides)
    assert [(d.target.indicator, d.target.target, d.customer_specific) for d in merged] == [
        ("latency", 0.999, False),
        ("availability", 0.9995, True),
        ("mttr", 0.999, True),
    ]
    assert merged[1].name == "Availability"
