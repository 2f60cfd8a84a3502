"""Pure objective rules: what makes a target measurable, and merging offering targets with overrides."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from slm_shared.contracts import targets
from slm_shared.contracts.targets import Target

DURATION = re.compile(r"^[1-9][0-9]{0,4}[mhdw]$")


@dataclass(frozen=True)
class ObjectiveDraft:
    """An objective about to be written: its target, optional name and where it came from."""

    target: Target
    name: str | None = None
    customer_specific: bool = False


def measurability_problems(target: Target) -> dict[str, str]:
    """Relative field path to reason, for every way the target cannot be measured."""
    problems: dict[str, str] = {}
    if not target.indicator.strip():
        problems["indicator"] = "an objective needs an indicator"
    window = target.window
    if window.kind == "rolling" and not (window.duration and DURATION.match(window.duration)):
        problems["window.duration"] = "a rolling window needs a duration such as '28d', '12h' or '4w'"
    if window.kind == "calendar" and window.unit is None:
        problems["window.unit"] = "a calendar window needs a unit: week, month or quarter"
    problems.update(targets.target_problems(target))
    timesliced = target.budgeting_method in ("timeslices", "ratio_timeslices")
    if timesliced and (not target.timeslice_seconds or target.timeslice_seconds <= 0):
        problems["timeslice_seconds"] = "timeslice budgeting needs a positive timeslice length"
    slice_target = target.timeslice_target
    if target.budgeting_method == "timeslices" and (slice_target is None or not 0 < slice_target <= 1):
        problems["timeslice_target"] = "timeslice budgeting needs a timeslice target in (0, 1]"
    return problems


def objective_problems(drafts: Sequence[ObjectiveDraft], *, prefix: str = "objectives") -> dict[str, str]:
    """Dotted field path (e.g. `objectives.1.window.duration`) to reason, over every draft."""
    problems: dict[str, str] = {}
    for index, draft in enumerate(drafts):
        for field, reason in measurability_problems(draft.target).items():
            problems[f"{prefix}.{index}.{field}"] = reason
    return problems


def merge_objectives(offering_targets: Sequence[Target], overrides: Sequence[ObjectiveDraft]) -> list[ObjectiveDraft]:
    """The offering's targets, with each override replacing every target on its indicator, then additions."""
    overridden = {draft.target.indicator for draft in overrides}
    kept = [ObjectiveDraft(target=target) for target in offering_targets if target.indicator not in overridden]
    return kept + [ObjectiveDraft(draft.target, draft.name, customer_specific=True) for draft in overrides]


def is_standard(target: Target, standard: Sequence[Target]) -> bool:
    """Whether the target is exactly one the offering promises (otherwise it is customer-specific)."""
    return any(target == offered for offered in standard)
