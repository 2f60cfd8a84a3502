"""Attainment, error budget and status transitions, without a database."""

from __future__ import annotations

import pytest

from slm_measurement.domain.budget import attainment, error_budget, meets
from slm_measurement.domain.status import BREACHED, HEALTHY, NO_DATA, RECOVERED, transition, verdict


def outcome(good: float, total: float, target: float) -> str:
    value = attainment(good, total)
    return verdict(
        has_data=value is not None,
        meets_target=value is not None and meets(value, target),
        forecast_misses=False,
    )


def test_attainment_and_outcome() -> None:
    assert attainment(0, 0) is None
    assert attainment(999, 1000) == pytest.approx(0.999)
    assert outcome(0, 0, 0.99) == NO_DATA
    assert outcome(990, 1000, 0.99) == HEALTHY
    assert outcome(989, 1000, 0.99) == BREACHED
    # A target is the least share of good events: 99.78% good meets 95%, whatever the threshold's direction.
    assert outcome(9978, 10000, 0.95) == HEALTHY
    assert meets(0.95, 0.95) and not meets(0.9499, 0.95)


def test_error_budget() -> None:
    budget = error_budget(0.9995, 0.999)
    assert budget.total == pytest.approx(0.001)
    assert budget.consumed == pytest.approx(0.0005)
    assert budget.remaining == pytest.approx(0.0005)
    assert budget.remaining_ratio == pytest.approx(0.5)
    overspent = error_budget(0.99, 0.999)
    assert overspent.remaining == pytest.approx(-0.009)
    assert overspent.remaining_ratio == pytest.approx(-9.0)
    assert error_budget(None, 0.999).remaining == pytest.approx(0.001)


def _run(verdicts: list[str]) -> list[tuple[str, str | None]]:
    last_event: str | None = None
    seen = []
    for step_verdict in verdicts:
        step = transition(step_verdict, last_event)
        last_event = step.last_event
        seen.append((step.status, step.event))
    return seen


def test_breach_is_reported_once_and_recovery_once() -> None:
    steps = _run([NO_DATA, HEALTHY, BREACHED, BREACHED, BREACHED, HEALTHY, HEALTHY, HEALTHY])
    assert steps == [
        (NO_DATA, None),
        (HEALTHY, None),
        (BREACHED, BREACHED),
        (BREACHED, None),
        (BREACHED, None),
        (RECOVERED, RECOVERED),
        (HEALTHY, None),
        (HEALTHY, None),
    ]


def test_a_gap_without_data_does_not_repeat_or_lose_a_transition() -> None:
    steps = _run([BREACHED, NO_DATA, BREACHED, NO_DATA, HEALTHY, BREACHED])
    assert [event for _, event in steps] == [BREACHED, None, None, None, RECOVERED, BREACHED]


def test_first_breach_without_history_is_reported() -> None:
    assert transition(BREACHED, None).event == BREACHED
    assert transition(HEALTHY, RECOVERED).event is None
