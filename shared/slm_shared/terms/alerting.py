"""A burn-rate alert policy as a term: the tiers an objective alerts on (the SRE workbook's shape).

A tier fires when the burn rate over its long window and over its short window both reach
`budget_share * period / long_window`: spending `budget_share` of the period's error budget within
`long_window`. The catalogue's offering targets carry a policy (from OpenSLO AlertPolicy and
AlertCondition documents); measurement's per-objective policy has the same fields.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

DURATION = re.compile(r"^([1-9]\d{0,4})([mhdw])$")
UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86_400, "w": 604_800}
MAX_TIERS = 10


def parse_duration(text: str) -> timedelta:
    """A length such as 5m, 1h, 3d or 2w; ValueError when it is not one."""
    match = DURATION.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a length such as 5m, 1h, 3d or 2w")
    return timedelta(seconds=int(match.group(1)) * UNIT_SECONDS[match.group(2)])


class BurnTier(BaseModel):
    """One tier: alert when `budget_share` of the period's budget would go within `long_window`."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    name: str = Field(min_length=1, max_length=64)
    severity: Literal["page", "ticket"]
    budget_share: float = Field(gt=0, le=1)
    long_window: str = Field(pattern=DURATION.pattern, description="a positive length, e.g. 1h")
    short_window: str = Field(pattern=DURATION.pattern, description="a positive length, e.g. 5m")

    @model_validator(mode="after")
    def _short_is_shorter(self) -> BurnTier:
        if parse_duration(self.short_window) >= parse_duration(self.long_window):
            raise ValueError("short_window must be shorter than long_window")
        return self


def policy_problems(policy: list[BurnTier]) -> dict[str, str]:
    """Relative field path to reason for a policy that cannot be evaluated as one."""
    problems: dict[str, str] = {}
    seen: set[str] = set()
    for index, tier in enumerate(policy):
        if tier.name in seen:
            problems[f"{index}.name"] = f"a second tier named {tier.name}"
        seen.add(tier.name)
    if len(policy) > MAX_TIERS:
        problems["alert_policy"] = f"at most {MAX_TIERS} tiers"
    return problems
