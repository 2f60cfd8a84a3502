"""Pure offering rules: targets must be measurable, ticket targets and credit bands consistent."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from slm_catalog.indicators.builtin import IndicatorDefinition
from slm_shared.contracts import targets
from slm_shared.terms.alerting import BurnTier, policy_problems

DURATION = re.compile(r"^[1-9][0-9]{0,4}[mhdw]$")
PERIOD_MONTHS = {"month": 1, "quarter": 3, "year": 12}


def _zone_ok(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def target_problems(
    offered: Sequence[dict[str, Any]],
    indicators: Mapping[str, IndicatorDefinition],
    *,
    explicit_kinds: Sequence[bool],
    prefix: str = "targets",
) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """Field path to reason for every unmeasurable target, and the targets with their indicator kind filled in."""
    problems: dict[str, str] = {}
    normalised: list[dict[str, Any]] = []
    for index, raw in enumerate(offered):
        target = dict(raw)
        at = f"{prefix}.{index}"
        indicator = indicators.get(target["indicator"])
        if indicator is None:
            problems[f"{at}.indicator"] = f"unknown indicator {target['indicator']!r}; define it under /v1/indicators"
        elif explicit_kinds[index] and target["indicator_kind"] != indicator.kind:
            problems[f"{at}.indicator_kind"] = f"{indicator.key} is a {indicator.kind} indicator"
        else:
            target["indicator_kind"] = indicator.kind
        kind = target["indicator_kind"]
        if f"{at}.indicator" not in problems and f"{at}.indicator_kind" not in problems:
            for field, reason in targets.target_problems(targets.Target.model_validate(target)).items():
                problems[f"{at}.{field}"] = reason
        if target.get("alert_policy"):
            tiers = [BurnTier.model_validate(t) for t in target["alert_policy"]]
            for field, reason in policy_problems(tiers).items():
                problems[f"{at}.alert_policy.{field}"] = reason
        window = target["window"]
        if window["kind"] == "rolling" and not DURATION.match(window.get("duration") or ""):
            problems[f"{at}.window.duration"] = "a rolling window needs a duration such as '28d' or '30d'"
        if window["kind"] == "calendar" and not window.get("unit"):
            problems[f"{at}.window.unit"] = "a calendar window needs a unit: week, month or quarter"
        if not _zone_ok(window.get("timezone") or ""):
            problems[f"{at}.window.timezone"] = "not an IANA time zone"
        slices = kind == "timeslice" or target["budgeting_method"] in ("timeslices", "ratio_timeslices")
        if slices and not (target.get("timeslice_seconds") or 0) > 0:
            problems[f"{at}.timeslice_seconds"] = "timeslices need a positive slice length in seconds"
        if (kind == "timeslice" or target["budgeting_method"] == "timeslices") and not (
            0 < (target.get("timeslice_target") or 0) <= 1
        ):
            problems[f"{at}.timeslice_target"] = (
                "timeslices need the share of good checks in (0, 1] that makes a good slice"
            )
        normalised.append(target)
    return problems, normalised


def ticket_target_problems(ticket_targets: Sequence[dict[str, Any]]) -> dict[str, str]:
    """Each priority at most once."""
    seen: set[str] = set()
    problems: dict[str, str] = {}
    for index, item in enumerate(ticket_targets):
        if item["priority"] in seen:
            problems[f"ticket_targets.{index}.priority"] = f"{item['priority']} is given twice"
        seen.add(item["priority"])
    return problems


def credit_band_problems(bands: Sequence[dict[str, Any]]) -> dict[str, str]:
    """Each band spans a non-empty range of attainment, and bands do not overlap."""
    problems: dict[str, str] = {}
    for index, band in enumerate(bands):
        if band["down_to"] >= band["below"]:
            problems[f"service_credits.{index}.down_to"] = "must be lower than `below`"
    ordered = sorted(range(len(bands)), key=lambda i: bands[i]["down_to"])
    for previous, current in pairwise(ordered):
        if (
            bands[current]["down_to"] < bands[previous]["below"]
            and f"service_credits.{current}.down_to" not in problems
        ):
            problems[f"service_credits.{current}.down_to"] = f"overlaps service_credits.{previous}"
    return problems


def monthly_amount(amount: Decimal, period: str) -> Decimal:
    """A price expressed per month, to compare tiers billed over different periods."""
    return amount / PERIOD_MONTHS[period]
