"""Objective maths: attainment, error budget, status and the transitions worth reporting."""

from __future__ import annotations

from dataclasses import dataclass

NO_DATA = "no_data"
HEALTHY = "healthy"
BREACHED = "breached"
RECOVERED = "recovered"


@dataclass(frozen=True)
class ErrorBudget:
    """Budget as fractions of the window's events: total allowed, consumed, remaining."""

    total: float
    consumed: float
    remaining: float

    @property
    def remaining_ratio(self) -> float | None:
        """The share of the budget still left (negative once overspent)."""
        return self.remaining / self.total if self.total > 0 else None


@dataclass(frozen=True)
class Transition:
    """The status after an evaluation, the event to report (if any) and the transition memory."""

    status: str
    event: str | None
    last_event: str | None


def attainment(good: float, total: float) -> float | None:
    """good / total, or None when nothing was counted."""
    return good / total if total > 0 else None


def meets(value: float, objective: float, comparison: str) -> bool:
    """Whether an attainment satisfies the objective under its comparison."""
    if comparison == ">=":
        return value >= objective
    if comparison == ">":
        return value > objective
    if comparison == "<=":
        return value <= objective
    if comparison == "<":
        return value < objective
    raise ValueError(f"unknown comparison {comparison!r}")


def error_budget(value: float | None, objective: float, comparison: str = ">=") -> ErrorBudget:
    """The error budget: 1 - objective for a lower bound (the objective itself for an upper one)."""
    lower_bound = comparison in (">=", ">")
    total = 1.0 - objective if lower_bound else objective
    if value is None:
        return ErrorBudget(total=total, consumed=0.0, remaining=total)
    consumed = 1.0 - value if lower_bound else value
    return ErrorBudget(total=total, consumed=consumed, remaining=total - consumed)


def outcome(good: float, total: float, objective: float, comparison: str) -> str:
    """The raw verdict of one evaluation: no_data, healthy or breached."""
    value = attainment(good, total)
    if value is None:
        return NO_DATA
    return HEALTHY if meets(value, objective, comparison) else BREACHED


def transition(verdict: str, last_event: str | None) -> Transition:
    """Next status given this evaluation's verdict and the last transition reported.

    A breach is reported once, when it starts; a recovery once, when a reported breach ends.
    An objective without data keeps its memory, so a breach is never reported twice in a row.
    """
    if verdict == NO_DATA:
        return Transition(NO_DATA, None, last_event)
    if verdict == BREACHED:
        if last_event == BREACHED:
            return Transition(BREACHED, None, last_event)
        return Transition(BREACHED, BREACHED, BREACHED)
    if last_event == BREACHED:
        return Transition(RECOVERED, RECOVERED, RECOVERED)
    return Transition(HEALTHY, None, last_event)
