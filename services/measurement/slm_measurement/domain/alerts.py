"""Multi-window, multi-burn-rate alerts (the SRE workbook's policy, configurable per objective).

A tier fires when the burn rate over its long window AND over its short window both reach its
factor. The factor is derived, not fixed: spending `budget_share` of the period's budget within
`long_window` means burning at budget_share * period / long_window. With the workbook's shares
and a 30-day period this gives 14.4 (2% in 1 h), 6 (5% in 6 h) and 1 (10% in 3 d).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from typing import Any, Literal

from slm_measurement.domain.windows import parse_duration

Severity = Literal["page", "ticket"]


@dataclass(frozen=True)
class BurnTier:
    """One alerting rule: spend `budget_share` of the budget within `long_window`."""

    name: str
    severity: Severity
    budget_share: float
    long_window: timedelta
    short_window: timedelta

    def factor(self, period: timedelta) -> float:
        """The burn rate that spends `budget_share` of a `period`'s budget within the long window."""
        return self.budget_share * (period / self.long_window)


DEFAULT_POLICY: tuple[BurnTier, ...] = (
    BurnTier("page-1h", "page", 0.02, timedelta(hours=1), timedelta(minutes=5)),
    BurnTier("page-6h", "page", 0.05, timedelta(hours=6), timedelta(minutes=30)),
    BurnTier("ticket-3d", "ticket", 0.10, timedelta(days=3), timedelta(hours=6)),
)


@dataclass(frozen=True, slots=True)
class TierState:
    """A tier's verdict at one evaluation."""

    tier: BurnTier
    factor: float
    long_burn: float | None
    short_burn: float | None

    @property
    def firing(self) -> bool:
        """Both windows burn at or above the factor."""
        return (
            self.long_burn is not None
            and self.short_burn is not None
            and self.long_burn >= self.factor
            and self.short_burn >= self.factor
        )


def lookbacks(policy: Sequence[BurnTier]) -> set[timedelta]:
    """Every window the policy needs a burn rate for."""
    return {w for tier in policy for w in (tier.long_window, tier.short_window)}


@lru_cache(maxsize=1024)
def _factor(tier: BurnTier, period: timedelta) -> float:
    """`tier.factor(period)`, worked out once per tier and window length (a pass shares both)."""
    return tier.factor(period)


def evaluate_policy(
    policy: Sequence[BurnTier],
    *,
    period: timedelta,
    burn_rates: Mapping[timedelta, float | None],
    factors: Sequence[float] | None = None,
) -> list[TierState]:
    """Each tier's factor, burn rates and whether it fires (`factors`: each tier's, when worked out already)."""
    if factors is None:
        factors = [_factor(tier, period) for tier in policy]
    rate = burn_rates.get
    # Positional: (tier, factor, long_burn, short_burn), once per tier of every objective judged.
    return [
        TierState(tier, factor, rate(tier.long_window), rate(tier.short_window))
        for tier, factor in zip(policy, factors, strict=True)
    ]


@dataclass(frozen=True)
class AlertChange:
    """A tier that started or stopped firing since the last evaluation."""

    state: TierState
    firing: bool


def alert_changes(states: Sequence[TierState], previously_firing: set[str]) -> tuple[list[AlertChange], set[str]]:
    """The tiers whose firing changed, and the set firing now (the memory for next time)."""
    now_firing = {s.tier.name for s in states if s.firing}
    changes = [
        AlertChange(s, s.firing) for s in states if (s.tier.name in now_firing) != (s.tier.name in previously_firing)
    ]
    return changes, now_firing


def tiers_of(alert_policy: list[dict[str, Any]] | None) -> tuple[BurnTier, ...]:
    """The burn-rate tiers of a stored alert policy (the SRE workbook's default without one)."""
    if not alert_policy:
        return DEFAULT_POLICY
    return tuple(
        BurnTier(
            name=tier["name"],
            severity=tier["severity"],
            budget_share=float(tier["budget_share"]),
            long_window=parse_duration(tier["long_window"]),
            short_window=parse_duration(tier["short_window"]),
        )
        for tier in alert_policy
    )
