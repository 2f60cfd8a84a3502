"""One meaning for a target, after OpenSLO: `op` and `value` say which events are good, `target` how many must be.

A threshold indicator's objective names the comparison (`op`: lt, lte, gt, gte) and the threshold
`value` that decide whether one event (or value) is good; every objective's `target` is the least
share, in (0, 1], of good events (or good timeslices) over its window. Catalogue tiers, agreement
objectives, measurement and the requirement matcher all read targets through this module.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from slm_shared.contracts.payloads import BudgetingMethod, IndicatorKind, WindowV1
from slm_shared.terms.alerting import MAX_TIERS, BurnTier
from slm_shared.terms.maintenance import MaintenanceWindow

Op = Literal["lt", "lte", "gt", "gte"]
SYMBOL: dict[str, str] = {"lt": "<", "lte": "<=", "gt": ">", "gte": ">="}
FROM_SYMBOL: dict[str, Op] = {"<": "lt", "<=": "lte", ">": "gt", ">=": "gte"}
LOWER_IS_BETTER: tuple[Op, ...] = ("lt", "lte")
THRESHOLD_KIND = "threshold"
MAX_TIMESLICE_SECONDS = 86_400  # a slice longer than a day is no slice
MAX_MEASURED = 1e15  # the largest count or value measurement ingests; no threshold lies beyond it
MAX_TARGET_MAINTENANCE = 20


def _absent(value: object) -> bool:
    return value is None


class Target(BaseModel):
    """A measurable target on an indicator: which events are good (`op`, `value`) and the least share of them."""

    model_config = ConfigDict(allow_inf_nan=False)

    indicator: str
    indicator_kind: IndicatorKind = "ratio"
    op: Op | None = Field(None, description="threshold indicators: an event is good when its value `op` `value`")
    value: float | None = Field(
        None,
        ge=-MAX_MEASURED,
        le=MAX_MEASURED,
        description="threshold indicators: the threshold, in the indicator's unit",
    )
    target: float = Field(gt=0, le=1, description="the least share of good events (or good slices), e.g. 0.95")
    window: WindowV1
    budgeting_method: BudgetingMethod = "occurrences"
    timeslice_seconds: int | None = Field(None, ge=1, le=MAX_TIMESLICE_SECONDS, description="length of a slice")
    timeslice_target: float | None = Field(None, description="share of good events that makes a slice good")
    # Absent (not null) when not given, so a target without them is stored and shown as before they existed.
    alert_policy: list[BurnTier] | None = Field(
        None,
        exclude_if=_absent,
        max_length=MAX_TIERS,
        description="burn-rate tiers to alert on; null: the SRE workbook default",
    )
    maintenance_windows: list[MaintenanceWindow] | None = Field(
        None,
        exclude_if=_absent,
        max_length=MAX_TARGET_MAINTENANCE,
        description="time this target does not count (e.g. an OpenSLO BudgetAdjustment)",
    )


def is_threshold(target: Target) -> bool:
    """Whether the target judges single values against a threshold."""
    return target.indicator_kind == THRESHOLD_KIND


def target_problems(target: Target) -> dict[str, str]:
    """Relative field path to reason, for every way the target's meaning is incomplete or contradictory."""
    problems: dict[str, str] = {}
    if not (math.isfinite(target.target) and 0 < target.target <= 1):
        problems["target"] = "the target is the least share of good events: a number in (0, 1]"
    if is_threshold(target):
        if target.op is None:
            problems["op"] = "a threshold indicator needs `op` (lt, lte, gt or gte): which values are good"
        if target.value is None:
            problems["value"] = "a threshold indicator needs the threshold `value` that values are compared with"
        elif not math.isfinite(target.value):
            problems["value"] = "the threshold must be a finite number"
    else:
        if target.op is not None:
            problems["op"] = f"only a threshold indicator takes `op`; this one is {target.indicator_kind}"
        if target.value is not None:
            problems["value"] = (
                f"only a threshold indicator takes a threshold `value`; this one is {target.indicator_kind}"
            )
    if target.timeslice_target is not None and not 0 < target.timeslice_target <= 1:
        problems["timeslice_target"] = "the share of good events that makes a good slice must be in (0, 1]"
    return problems


def is_good(measured: float, op: Op, value: float) -> bool:
    """Whether one measured value is a good event under `op` and the threshold `value`."""
    if op == "lt":
        return measured < value
    if op == "lte":
        return measured <= value
    if op == "gt":
        return measured > value
    return measured >= value


def meets(attainment: float, target: float) -> bool:
    """Whether a share of good events reaches the target (the least share)."""
    return attainment >= target


def threshold_shortfall(offered_op: Op, offered_value: float, wanted_op: Op, wanted_value: float) -> float | None:
    """How far the offered threshold is from the wanted one, in the indicator's unit (0 when it is as strict).

    None when the two judge values in opposite directions and cannot be compared.
    """
    lower = offered_op in LOWER_IS_BETTER
    if lower != (wanted_op in LOWER_IS_BETTER):
        return None
    gap = offered_value - wanted_value if lower else wanted_value - offered_value
    return max(0.0, gap)


def from_v1(legacy: dict[str, Any]) -> dict[str, Any]:
    """A version-1 target (`objective`, `comparison` of value vs threshold, `threshold`) in this shape."""
    if "objective" not in legacy:
        return dict(legacy)
    data = {k: v for k, v in legacy.items() if k not in ("objective", "comparison", "threshold")}
    data["target"] = legacy.get("objective")
    if legacy.get("indicator_kind", "ratio") == THRESHOLD_KIND:
        data["op"] = FROM_SYMBOL.get(str(legacy.get("comparison") or ">="), "gte")
        data["value"] = legacy.get("threshold")
    return data


class WantedTarget(BaseModel):
    """A target a customer requires: the least share of good events, and for threshold indicators which are good."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    indicator: str = Field(min_length=1, max_length=64)
    target: float = Field(gt=0, le=1, description="the least share of good events wanted, e.g. 0.9995")
    op: Op | None = Field(None, description="threshold indicators: good values are `op` `value` (default: the tier's)")
    value: float | None = Field(
        None, ge=-MAX_MEASURED, le=MAX_MEASURED, description="threshold indicators: the threshold wanted, e.g. 300 (ms)"
    )


def wanted_problems(wanted: WantedTarget) -> dict[str, str]:
    """Relative field path to reason for a requirement that cannot be compared with a tier."""
    if wanted.op is not None and wanted.value is None:
        return {"value": "`op` needs the threshold `value` it compares with"}
    return {}
