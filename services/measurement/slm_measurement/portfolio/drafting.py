"""Which proposals the figures call for (pure): from an objective's period trend and its status now."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from slm_shared.contracts.action_titles import ACT_NOW, AMENDMENT, TIER_CHANGE, render_reason

HEADROOM = 0.5  # a tier up is proposed when at least half the error budget was left in every period


@dataclass(frozen=True)
class Draft:
    kind: str
    reason_key: str
    reason_params: dict[str, str] = field(default_factory=dict)

    @property
    def reason(self) -> str:
        """The reason in English, as stored beside its key."""
        return render_reason(self.reason_key, self.reason_params, "en", self.reason_key)


def drafts_for(objective: dict[str, Any], status_now: str | None, forecast_misses: bool) -> list[Draft]:
    """Proposals for one objective of a report: its 12-period trend, its status and forecast now."""
    target = float(objective["target"])
    seen = [p["attainment"] for p in objective["trend"] if p["attainment"] is not None]
    last = seen[-3:]
    found: list[Draft] = []
    misses = sum(1 for value in last if value < target)
    if len(last) >= 2 and misses >= 2:
        found.append(Draft("amendment", AMENDMENT, {"misses": str(misses), "periods": str(len(last))}))
    allowance = 1.0 - target
    if len(seen) >= 3 and all(value >= target + allowance * HEADROOM for value in seen):
        found.append(Draft("tier_change", TIER_CHANGE, {"periods": str(len(seen))}))
    if status_now in ("at_risk", "breached") or forecast_misses:
        state = status_now if status_now in ("at_risk", "breached") else "forecast"
        found.append(Draft("improvement_action", ACT_NOW, {"state": state}))
    return found
