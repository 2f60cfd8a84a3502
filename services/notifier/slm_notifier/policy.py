"""Retry policy: backoff with jitter, Retry-After, and a delivery's next state. Pure."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from slm_notifier.channels.base import AttemptOutcome
from slm_notifier.models import DEAD, FAILED, PENDING, SUCCEEDED, SUPERSEDED


@dataclass(frozen=True)
class RetryPolicy:
    base_seconds: float = 2.0
    max_seconds: float = 3600.0
    max_attempts: int = 8
    retry_after_max_seconds: float = 86_400.0


@dataclass(frozen=True)
class Transition:
    """Where a delivery goes after an attempt."""

    status: str
    next_attempt_at: datetime | None


def backoff_seconds(policy: RetryPolicy, attempts: int, rand: Callable[[], float] = random.random) -> float:
    """Exponential backoff after `attempts` failures, with jitter between 50% and 100%."""
    ceiling: float = min(policy.base_seconds * 2 ** max(attempts - 1, 0), policy.max_seconds)
    return ceiling * (0.5 + rand() / 2)


def next_transition(
    policy: RetryPolicy,
    outcome: AttemptOutcome,
    *,
    attempts_in_round: int,
    now: datetime,
    rand: Callable[[], float] = random.random,
) -> Transition:
    """The delivery's status and next attempt time after `attempts_in_round` attempts ended so."""
    if outcome.succeeded:
        return Transition(SUCCEEDED, None)
    if outcome.superseded:
        return Transition(SUPERSEDED, None)
    if outcome.permanent:
        return Transition(FAILED, None)
    if attempts_in_round >= policy.max_attempts:
        return Transition(DEAD, None)
    if outcome.retry_after_seconds is not None:
        delay = min(outcome.retry_after_seconds, policy.retry_after_max_seconds)
    else:
        delay = backoff_seconds(policy, attempts_in_round, rand)
    return Transition(PENDING, now + timedelta(seconds=delay))
