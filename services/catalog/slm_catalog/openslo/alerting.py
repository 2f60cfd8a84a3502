"""OpenSLO alerting and maintenance onto targets: burn-rate AlertConditions become an SLO's alert policy tiers,
BudgetAdjustments maintenance windows on the SLOs they name; what cannot be measured is refused."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from slm_catalog.openslo.checked import Checked
from slm_catalog.openslo.models import AlertPolicySpec
from slm_shared.errors import json_path
from slm_shared.terms.alerting import MAX_TIERS, parse_duration
from slm_shared.terms.maintenance import MaintenanceWindow

PAGE_SEVERITIES = {"page", "critical", "high"}
TICKET_SEVERITIES = {"ticket", "warning", "low", "info"}
NOMINAL_PERIOD = {"week": timedelta(days=7), "month": timedelta(days=30), "quarter": timedelta(days=90)}


def period_of(window: dict[str, Any]) -> timedelta:
    if window["kind"] == "rolling":
        return parse_duration(window["duration"])
    return NOMINAL_PERIOD[window["unit"]]


def _conditions(checked: Checked, policy_index: int, policy: Any) -> list[tuple[int, str, str, dict[str, Any]]]:
    """Each condition of a policy: (document index, JSON path, name, condition spec), inline or referenced."""
    named = checked.named("AlertCondition")
    found = []
    for c_index, entry in enumerate(policy.conditions):
        ref = entry.get("conditionRef")
        if ref is not None:
            if ref in named:
                spec = checked.specs[named[ref]]
                found.append((named[ref], "$.spec.condition", ref, dict(spec.condition)))  # type: ignore[attr-defined]
            continue
        inline = entry.get("spec") if isinstance(entry.get("spec"), dict) else None
        name = (entry.get("metadata") or {}).get("name") if isinstance(entry.get("metadata"), dict) else None
        path = f"$.spec.conditions[{c_index}]"
        if inline is None or not isinstance(inline.get("condition"), dict) or not name:
            checked.refuse(policy_index, path, "a condition is a conditionRef or an inline AlertCondition with a name")
            continue
        condition = {**inline["condition"], "severity": inline.get("severity")}
        found.append((policy_index, f"{path}.spec.condition", str(name), condition))
    return found


def _tier(checked: Checked, where: tuple[int, str, str, dict[str, Any]], period: timedelta) -> dict[str, Any] | None:
    """A burn-rate condition as a tier, or None with the reason it cannot be measured as one."""
    index, path, name, condition = where
    severity = condition.get("severity")
    if severity is None:
        severity = getattr(checked.specs[index], "severity", None)

    def refuse(field: str, reason: str) -> None:
        checked.refuse(index, f"{path}.{field}" if field else path, reason)

    if str(condition.get("kind", "")).lower() != "burnrate":
        refuse("kind", f"only burnrate conditions can be measured, not {condition.get('kind')!r}")
        return None
    if condition.get("op") not in ("gte", "gt"):
        refuse("op", "a burn-rate alert fires when the burn rate reaches the threshold: op gte (or gt)")
        return None
    threshold = condition.get("threshold")
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not threshold > 0:
        refuse("threshold", "the threshold is a burn rate above 0, e.g. 14.4")
        return None
    try:
        long_window = parse_duration(str(condition.get("lookbackWindow", "")))
    except ValueError as exc:
        refuse("lookbackWindow", f"the lookback window is {exc}")
        return None
    after = condition.get("alertAfter")
    if after is None:
        short_window = max(long_window / 12, timedelta(minutes=1))
        short = f"{int(short_window.total_seconds() // 60)}m"
    else:
        try:
            short_window = parse_duration(str(after))
        except ValueError as exc:
            refuse("alertAfter", f"alertAfter is {exc}")
            return None
        short = str(after)
    if short_window >= long_window:
        refuse("alertAfter", "alertAfter (the short window that confirms the burn) must be shorter than the lookback")
        return None
    share = float(threshold) * (long_window / period)
    if share > 1:
        refuse(
            "threshold",
            f"burning at {threshold} for {condition['lookbackWindow']} spends more than the whole budget of the "
            "SLO's window; no alert could fire before the objective is missed",
        )
        return None
    label = str(severity or "").lower()
    if label not in PAGE_SEVERITIES | TICKET_SEVERITIES:
        checked.refuse(
            index,
            "$.spec.severity" if path == "$.spec.condition" else path.removesuffix(".condition") + ".severity",
            f"severity {severity!r} is not one of {', '.join(sorted(PAGE_SEVERITIES | TICKET_SEVERITIES))}",
        )
        return None
    return {
        "name": name,
        "severity": "page" if label in PAGE_SEVERITIES else "ticket",
        "budget_share": share,
        "long_window": str(condition["lookbackWindow"]),
        "short_window": short,
    }


def alert_policy(checked: Checked, index: int, spec: Any, window: dict[str, Any] | None) -> list[dict[str, Any]] | None:
    """The burn-rate tiers of the SLO's alert policies ([] for none), or None when one cannot be measured."""
    entries = getattr(spec, "alertPolicies", [])
    if not entries or window is None:
        return []
    try:
        period = period_of(window)
    except ValueError:
        checked.refuse(index, "$.spec", f"the SLO's window {window.get('duration')} is too long to alert on")
        return None
    named = checked.named("AlertPolicy")
    tiers: list[dict[str, Any]] = []
    failed = False
    for p_index, entry in enumerate(entries):
        ref = entry.get("alertPolicyRef")
        if ref is not None:
            if ref not in named:
                return None  # refused with the reference
            policy_index, policy = named[ref], checked.specs[named[ref]]
        else:
            try:
                policy = AlertPolicySpec.model_validate(entry.get("spec"))
            except ValidationError as exc:
                for error in exc.errors():
                    checked.refuse(
                        index, json_path(["spec", "alertPolicies", p_index, "spec", *error["loc"]]), error["msg"]
                    )
                failed = True
                continue
            policy_index = index
        for where in _conditions(checked, policy_index, policy):
            tier = _tier(checked, where, period)
            if tier is None:
                failed = True
            elif tier["name"] not in {t["name"] for t in tiers}:
                tiers.append(tier)
    if len(tiers) > MAX_TIERS:
        checked.refuse(index, "$.spec.alertPolicies", f"at most {MAX_TIERS} burn-rate conditions per SLO")
        failed = True
    return None if failed else tiers


def maintenance_windows(checked: Checked) -> dict[str, list[dict[str, Any]]]:
    """Each SLO's maintenance windows from the BudgetAdjustment documents that name it."""
    by_slo: dict[str, list[dict[str, Any]]] = {}
    slos = checked.named("SLO")
    for index, (document, spec) in enumerate(zip(checked.documents, checked.specs, strict=True)):
        if document.kind != "BudgetAdjustment":
            continue
        for r_index, ref in enumerate(spec.sloRefs):  # type: ignore[attr-defined]
            if ref not in slos:
                checked.refuse(index, f"$.spec.sloRefs[{r_index}]", f"no SLO named {ref} among these documents")
        try:
            length = parse_duration(spec.duration)  # type: ignore[attr-defined]
        except ValueError as exc:
            checked.refuse(index, "$.spec.duration", str(exc))
            continue
        data: dict[str, Any] = {"start": spec.firstEvent, "reason": spec.description or document.metadata.name}  # type: ignore[attr-defined]
        if spec.rrule:  # type: ignore[attr-defined]
            data.update(rrule=spec.rrule, duration_minutes=int(length.total_seconds() // 60))  # type: ignore[attr-defined]
        else:
            data["end"] = None
        try:
            if "end" in data:
                first = datetime.fromisoformat(str(spec.firstEvent).replace("Z", "+00:00"))  # type: ignore[attr-defined]
                if first.tzinfo is None:
                    raise ValueError("firstEvent needs a time zone offset, e.g. 2026-01-04T02:00:00Z")
                data["end"] = (first + length).isoformat()
            window = MaintenanceWindow.model_validate(data)
        except ValidationError as exc:
            for error in exc.errors():
                at = str(error["loc"][0]) if error["loc"] else ("rrule" if "rrule" in error["msg"].lower() else "")
                field = {"start": "firstEvent", "rrule": "rrule", "duration_minutes": "duration"}.get(at, "")
                checked.refuse(
                    index, f"$.spec.{field}" if field else "$.spec", error["msg"].removeprefix("Value error, ")
                )
            continue
        except (ValueError, OverflowError) as exc:
            checked.refuse(index, "$.spec.firstEvent", str(exc))
            continue
        for ref in spec.sloRefs:  # type: ignore[attr-defined]
            by_slo.setdefault(ref, []).append(window.model_dump(mode="json", exclude_none=True))
    return by_slo
