"""Which proposals the figures call for (pure): from an objective's period trend and its status now."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

HEADROOM = 0.5  # a tier up is proposed when at least half the error budget was left in every period


@dataclass(frozen=True)
class Draft:
    kind: str
    reason: str


def drafts_for(objective: dict[str, Any], status_now: str | None, forecast_misses: bool) -> list[Draft]:
    """Proposals for one objective of a report: its 12-period trend, its status and forecast now."""
    target = float(objective["target"])
    seen = [p["attainment"] for p in objective["trend"] if p["attainment"] is not None]
    last = seen[-3:]
    found: list[Draft] = []
    misses = sum(1 for value in last if value < target)
    if len(last) >= 2 and misses >= 2:
        found.append(
            Draft("amendment", f"missed in {misses} of the last {len(last)} periods: renegotiate the target or cover")
        )
    allowance = 1.0 - target
    if len(seen) >= 3 and all(value >= target + allowance * HEADROOM for value in seen):
        found.append(
            Draft("tier_change", f"met with half its budget to spare in all {len(seen)} periods: offer a higher tier")
        )
    if status_now in ("at_risk", "breached") or forecast_misses:
        found.append(Draft("improvement_action", f"{status_now or 'forecast to miss'} now: act before the period ends"))
    return found
