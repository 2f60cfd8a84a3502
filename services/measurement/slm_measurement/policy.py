"""Per-objective evaluation policy: the at-risk rule, and what a change of burn tiers must announce.

`at_risk` is reported when the forecast says the target will be missed by the window's end. Each
objective chooses how its forecasts (one per lookback, 1 h and 24 h by default) decide it:
`any_forecast` (the default: one forecast of exhaustion is enough, so a fast burn over the last hour
is not hidden by a calm day) or `all_forecasts` (every lookback must agree, for noisy series). The rule is applied by
`evaluator.forecast_misses`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from slm_measurement import events
from slm_measurement.domain.alerts import AlertChange, TierState
from slm_measurement.evaluator import policy_of
from slm_measurement.models import Objective

AtRiskRule = Literal["any_forecast", "all_forecasts"]


def retire_removed_tiers(session: AsyncSession, objective: Objective, kept: set[str], *, now: datetime) -> None:
    """Announce that every firing tier the new policy no longer has has stopped firing, and forget it."""
    firing = set(objective.firing_alerts or [])
    removed = firing - kept
    if not removed:
        return
    last = {a["name"]: a for a in (objective.details or {}).get("alerts", [])}
    for tier in policy_of(objective):
        if tier.name in removed:
            seen = last.get(tier.name, {})
            state = TierState(tier, float(seen.get("factor", 0.0)), seen.get("long_burn"), seen.get("short_burn"))
            events.burn_alert_changed(session, objective, AlertChange(state, firing=False), observed_at=now)
    objective.firing_alerts = sorted(firing & kept)
