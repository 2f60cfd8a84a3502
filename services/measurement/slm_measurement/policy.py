"""Per-objective evaluation policy: the at-risk rule, and when the error budget runs out.

`at_risk` is reported when the forecast says the target will be missed by the window's end. Each
objective chooses how its forecasts (one per lookback, 1 h and 24 h by default) decide it:
`any_forecast` (the default: one forecast of exhaustion is enough, so a fast burn over the last hour
is not hidden by a calm day) or `all_forecasts` (every lookback must agree, for noisy series).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from slm_measurement.domain.forecast import Forecast

AtRiskRule = Literal["any_forecast", "all_forecasts"]
DEFAULT_AT_RISK: AtRiskRule = "any_forecast"


def forecast_misses(forecasts: list[Forecast], rule: str | None) -> bool:
    """Whether the forecasts, read by the objective's at-risk rule (default: any one), say the target is missed."""
    misses = [f.misses_target for f in forecasts]
    return bool(misses) and (all(misses) if rule == "all_forecasts" else any(misses))


def budget_runs_out(details: dict[str, Any]) -> datetime | None:
    """The earliest instant a missing forecast expects the error budget to run out, if any."""
    found = [
        datetime.fromisoformat(str(f["budget_exhausted_at"]))
        for f in details.get("forecasts", [])
        if isinstance(f, dict) and f.get("misses_target") and f.get("budget_exhausted_at")
    ]
    return min(found) if found else None
