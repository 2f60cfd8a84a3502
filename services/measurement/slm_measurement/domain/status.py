"""Objective status and the transitions worth reporting (each reported once, never repeated)."""

from __future__ import annotations

import functools
from dataclasses import dataclass

NO_DATA = "no_data"
HEALTHY = "healthy"
AT_RISK = "at_risk"
BREACHED = "breached"
RECOVERED = "recovered"


@dataclass(frozen=True)
class Transition:
    """The status after an evaluation, the event to report (if any) and the transition memory."""

    status: str
    event: str | None
    last_event: str | None


def verdict(*, has_data: bool, meets_target: bool, forecast_misses: bool) -> str:
    """The raw verdict of one evaluation: no_data, breached, at_risk or healthy."""
    if not has_data:
        return NO_DATA
    if not meets_target:
        return BREACHED
    return AT_RISK if forecast_misses else HEALTHY


@functools.lru_cache(maxsize=64)  # a handful of verdicts and memories; a Transition is frozen, so shared
def transition(verdict: str, last_event: str | None) -> Transition:
    """Next status given this evaluation's verdict and the last transition reported.

    A breach is reported once, when it starts; `at_risk` once, when the forecast starts to miss
    (also when a breach eases into a forecast miss); a recovery once, when the objective is
    healthy again after a reported breach or risk. An objective without data keeps its memory,
    so nothing is reported twice in a row.
    """
    if verdict == NO_DATA:
        return Transition(NO_DATA, None, last_event)
    if verdict in (BREACHED, AT_RISK):
        if last_event == verdict:
            return Transition(verdict, None, last_event)
        return Transition(verdict, verdict, verdict)
    if last_event in (BREACHED, AT_RISK):
        return Transition(RECOVERED, RECOVERED, RECOVERED)
    return Transition(HEALTHY, None, last_event)
