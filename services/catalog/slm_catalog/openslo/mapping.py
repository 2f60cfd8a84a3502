"""OpenSLO documents onto the catalogue: Services, SLIs and SLOs become services, indicators and offerings.

Every document is checked before anything is created (`checked`); a refusal names the document (its
index, kind and name), the JSON path of the field and the reason. Alert policies and BudgetAdjustments
become the targets' alert policy and maintenance windows (`alerting`). DataSource and
AlertNotificationTarget documents are checked, their references resolved, and kept for export.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from slm_catalog.openslo import alerting
from slm_catalog.openslo.checked import Checked, check
from slm_catalog.openslo.models import Document, InlineSLI, SLISpec
from slm_catalog.transfer.schemas import CatalogDocument
from slm_shared.contracts.indicators import STANDARD_INDICATOR_KEYS
from slm_shared.errors import FieldError, json_path

__all__ = ["Checked", "check", "indicator_kind", "to_catalogue"]

CALENDAR_UNITS = {"w": "week", "M": "month", "Q": "quarter"}
ALPHA_ROLLING = {"Minute": ("m", 1), "Hour": ("h", 1), "Day": ("d", 1), "Week": ("d", 7)}
ALPHA_CALENDAR = {"Week": "week", "Month": "month", "Quarter": "quarter"}
BUDGETING = {"Occurrences": "occurrences", "Timeslices": "timeslices", "RatioTimeslices": "ratio_timeslices"}
SLICE_SECONDS = {"s": 1, "m": 60, "h": 3600}
DEFAULT_SLICE_SECONDS = 60


def _rolling_v1(duration: str) -> str | None:
    count, unit = int(duration[:-1]), duration[-1]
    if unit in "mhd":
        return duration
    if unit == "w":
        return f"{count * 7}d"
    return None


def _window(checked: Checked, index: int, document: Document, spec: Any) -> dict[str, Any] | None:
    if document.apiVersion == "openslo/v1":
        window = spec.timeWindow[0]
        timezone = window.calendar.timeZone if window.calendar else "UTC"
        rolling = window.isRolling if window.isRolling is not None else window.calendar is None
        if rolling:
            duration = _rolling_v1(window.duration)
            if duration is None:
                checked.refuse(
                    index,
                    "$.spec.timeWindow[0].duration",
                    f"a rolling window of {window.duration} cannot be measured (m, h, d or w)",
                )
                return None
            return {"kind": "rolling", "duration": duration, "timezone": timezone}
        count, unit = int(window.duration[:-1]), window.duration[-1]
        if count != 1 or unit not in CALENDAR_UNITS:
            checked.refuse(
                index,
                "$.spec.timeWindow[0].duration",
                f"a calendar window of {window.duration} cannot be measured (1w, 1M or 1Q)",
            )
            return None
        return {"kind": "calendar", "unit": CALENDAR_UNITS[unit], "timezone": timezone}
    window = spec.timeWindows[0]
    timezone = window.calendar.timeZone if window.calendar else "UTC"
    if window.isRolling:
        if window.unit not in ALPHA_ROLLING:
            checked.refuse(
                index, "$.spec.timeWindows[0].unit", f"a rolling window in {window.unit}s cannot be measured"
            )
            return None
        suffix, factor = ALPHA_ROLLING[window.unit]
        return {"kind": "rolling", "duration": f"{window.count * factor}{suffix}", "timezone": timezone}
    if window.count != 1 or window.unit not in ALPHA_CALENDAR:
        checked.refuse(index, "$.spec.timeWindows[0]", "a calendar window is one Week, Month or Quarter")
        return None
    return {"kind": "calendar", "unit": ALPHA_CALENDAR[window.unit], "timezone": timezone}


def indicator_kind(sli: SLISpec) -> str:
    return "ratio" if sli.ratioMetric is not None else "threshold"


def _refs(checked: Checked, index: int, sli: SLISpec, path: str) -> None:
    sources = checked.named("DataSource")
    metrics = [sli.thresholdMetric] if sli.thresholdMetric else []
    if sli.ratioMetric:
        metrics += [
            m for m in (sli.ratioMetric.good, sli.ratioMetric.bad, sli.ratioMetric.total, sli.ratioMetric.raw) if m
        ]
    for metric in metrics:
        ref = metric.metricSource.metricSourceRef
        if ref and ref not in sources:
            checked.refuse(index, f"{path}.metricSourceRef", f"no DataSource named {ref} among these documents")


def to_catalogue(checked: Checked, *, existing_indicators: set[str]) -> CatalogDocument | None:
    """The catalogue document the OpenSLO documents describe, or None with `checked.errors` filled."""
    services = checked.named("Service")
    slis = checked.named("SLI")
    policies = checked.named("AlertPolicy")
    indicators: dict[str, dict[str, Any]] = {}
    offerings: dict[str, list[dict[str, Any]]] = {name: [] for name in services}

    def add_indicator(index: int, inline: InlineSLI | None, name: str, kind: str, path: str) -> None:
        if inline is not None:
            _refs(checked, index, inline.spec, path)
        if name in STANDARD_INDICATOR_KEYS or name in existing_indicators or name in indicators:
            return
        display = inline.metadata.displayName if inline is not None else None
        description = (inline.spec.description if inline is not None else None) or ""
        indicators[name] = {"key": name, "name": display or name, "description": description, "kind": kind}

    for index, sli_index in enumerate(slis.values()):
        del index
        sli_doc, sli_spec = checked.documents[sli_index], checked.specs[sli_index]
        assert isinstance(sli_spec, SLISpec)
        add_indicator(
            sli_index,
            InlineSLI(metadata=sli_doc.metadata, spec=sli_spec),
            sli_doc.metadata.name,
            indicator_kind(sli_spec),
            "$.spec",
        )

    adjustments = alerting.maintenance_windows(checked)
    for index, (document, spec) in enumerate(zip(checked.documents, checked.specs, strict=True)):
        if document.kind == "AlertPolicy":
            for c_index, condition in enumerate(spec.conditions):  # type: ignore[attr-defined]
                ref = condition.get("conditionRef")
                if ref and ref not in checked.named("AlertCondition"):
                    checked.refuse(
                        index, f"$.spec.conditions[{c_index}].conditionRef", f"no AlertCondition named {ref}"
                    )
            for t_index, target in enumerate(spec.notificationTargets):  # type: ignore[attr-defined]
                ref = target.get("targetRef")
                if ref and ref not in checked.named("AlertNotificationTarget"):
                    checked.refuse(
                        index,
                        f"$.spec.notificationTargets[{t_index}].targetRef",
                        f"no AlertNotificationTarget named {ref}",
                    )
        if document.kind != "SLO":
            continue
        if spec.service not in services:  # type: ignore[attr-defined]
            checked.refuse(index, "$.spec.service", f"no Service named {spec.service} among these documents")  # type: ignore[attr-defined]
            continue
        window = _window(checked, index, document, spec)
        for p_index, policy in enumerate(getattr(spec, "alertPolicies", [])):
            ref = policy.get("alertPolicyRef")
            if ref and ref not in policies:
                checked.refuse(index, f"$.spec.alertPolicies[{p_index}].alertPolicyRef", f"no AlertPolicy named {ref}")
        targets = _targets(checked, index, document, spec, add_indicator, slis)
        policy = alerting.alert_policy(checked, index, spec, window)
        if window is None or targets is None or policy is None:
            continue
        windows = adjustments.get(document.metadata.name, [])
        for target in targets:
            target["window"] = window
            if policy:
                target["alert_policy"] = policy
            if windows:
                target["maintenance_windows"] = windows
        offerings[spec.service].append(  # type: ignore[attr-defined]
            {
                "name": document.metadata.name,
                "description": getattr(spec, "description", None) or "",
                "targets": targets,
                "status": "published",
            }
        )
    if checked.errors:
        return None
    service_entries = []
    for name, index in services.items():
        document = checked.documents[index]
        service_entries.append(
            {
                "key": name,
                "name": document.metadata.displayName or name,
                "description": getattr(checked.specs[index], "description", None) or "",
                "offerings": offerings[name],
            }
        )
    try:
        return CatalogDocument.model_validate({"indicators": list(indicators.values()), "services": service_entries})
    except ValidationError as exc:
        for error in exc.errors():
            checked.errors.append(FieldError(field=json_path(error["loc"]), message=error["msg"]))
        return None


def _targets(
    checked: Checked, index: int, document: Document, spec: Any, add_indicator: Any, slis: dict[str, int]
) -> list[dict[str, Any]] | None:
    budgeting = BUDGETING[spec.budgetingMethod]
    targets: list[dict[str, Any]] = []
    failed = False
    for o_index, objective in enumerate(spec.objectives):
        path = f"$.spec.objectives[{o_index}]"
        if document.apiVersion == "openslo/v1":
            inline = objective.indicator or spec.indicator
            ref = objective.indicatorRef or spec.indicatorRef
            if inline is not None:
                name, kind = inline.metadata.name, indicator_kind(inline.spec)
                add_indicator(
                    index,
                    inline,
                    name,
                    kind,
                    f"{path}.indicator.spec" if objective.indicator else "$.spec.indicator.spec",
                )
            elif ref is not None:
                if ref not in slis and ref not in STANDARD_INDICATOR_KEYS:
                    checked.refuse(
                        index,
                        f"{path}.indicatorRef" if objective.indicatorRef else "$.spec.indicatorRef",
                        f"no SLI named {ref} among these documents",
                    )
                    failed = True
                    continue
                name = ref
                kind = indicator_kind(checked.specs[slis[ref]]) if ref in slis else "ratio"  # type: ignore[arg-type]
            else:
                checked.refuse(index, path, "an objective needs an indicator: inline, indicatorRef, or the SLO's")
                failed = True
                continue
            share = objective.target if objective.target is not None else objective.targetPercent / 100
            slice_window = objective.timeSliceWindow
        else:
            name = (
                document.metadata.name
                if len(spec.objectives) == 1 or objective.ratioMetrics is None
                else f"{document.metadata.name}-{o_index}"
            )
            if objective.ratioMetrics is not None:
                kind = "ratio"
            elif spec.indicator is not None:
                kind = "threshold"
            else:
                checked.refuse(index, path, "a v1alpha objective needs ratioMetrics or the SLO's thresholdMetric")
                failed = True
                continue
            add_indicator(index, None, name, kind, path)
            share, slice_window = objective.target, None
        if kind == "threshold" and (objective.op is None or objective.value is None):
            checked.refuse(index, f"{path}.op", "a threshold objective needs op and value: which values are good")
            failed = True
            continue
        target: dict[str, Any] = {
            "indicator": name,
            "indicator_kind": kind,
            "target": share,
            "budgeting_method": budgeting,
        }
        if kind == "threshold":
            target.update(op=objective.op, value=objective.value)
        if budgeting != "occurrences":
            target["timeslice_seconds"] = (
                int(slice_window[:-1]) * SLICE_SECONDS[slice_window[-1]] if slice_window else DEFAULT_SLICE_SECONDS
            )
            if objective.timeSliceTarget is not None:
                target["timeslice_target"] = objective.timeSliceTarget
        targets.append(target)
    return None if failed else targets
