"""OpenSLO documents onto the catalogue: Services, SLIs and SLOs become services, indicators and offerings.

Every document is checked before anything is created; a refusal names the document (its index, kind
and name), the JSON path of the field and the reason. The other kinds (DataSource, AlertPolicy,
AlertCondition, AlertNotificationTarget and the BudgetAdjustment extension) are checked, their
references resolved, and kept with the rest for export.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ValidationError

from slm_catalog.openslo.models import SPECS, AlertPolicySpec, Document, InlineSLI, SLISpec
from slm_catalog.transfer.schemas import CatalogDocument
from slm_shared.contracts.indicators import STANDARD_INDICATOR_KEYS
from slm_shared.errors import FieldError
from slm_shared.terms.alerting import MAX_TIERS, parse_duration
from slm_shared.terms.maintenance import MaintenanceWindow

CALENDAR_UNITS = {"w": "week", "M": "month", "Q": "quarter"}
ALPHA_ROLLING = {"Minute": ("m", 1), "Hour": ("h", 1), "Day": ("d", 1), "Week": ("d", 7)}
ALPHA_CALENDAR = {"Week": "week", "Month": "month", "Quarter": "quarter"}
BUDGETING = {"Occurrences": "occurrences", "Timeslices": "timeslices", "RatioTimeslices": "ratio_timeslices"}
SLICE_SECONDS = {"s": 1, "m": 60, "h": 3600}
DEFAULT_SLICE_SECONDS = 60


def json_path(loc: tuple[Any, ...] | list[Any]) -> str:
    path = "$"
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


@dataclass
class Checked:
    """The documents as given, their validated specs, and every refusal found."""

    raw: list[dict[str, Any]]
    documents: list[Document] = field(default_factory=list)
    specs: list[BaseModel] = field(default_factory=list)
    errors: list[FieldError] = field(default_factory=list)

    def refuse(self, index: int, path: str, reason: str) -> None:
        label = "document"
        if index < len(self.raw) and isinstance(self.raw[index], dict):
            doc = self.raw[index]
            name = (doc.get("metadata") or {}).get("name") if isinstance(doc.get("metadata"), dict) else None
            label = f"{doc.get('kind', 'document')} {name or '(unnamed)'}"
        self.errors.append(FieldError(field=f"documents[{index}] {path}", message=f"{label}: {reason}"))

    def named(self, kind: str) -> dict[str, int]:
        return {d.metadata.name: i for i, d in enumerate(self.documents) if d.kind == kind}


def check(raw: list[Any]) -> Checked:
    """Validate each document and its spec against its kind."""
    checked = Checked(raw=[d if isinstance(d, dict) else {} for d in raw])
    for index, item in enumerate(raw):
        if not isinstance(item, dict):
            checked.refuse(index, "$", "a document is a mapping with apiVersion, kind, metadata and spec")
            continue
        try:
            document = Document.model_validate(item)
        except ValidationError as exc:
            for error in exc.errors():
                checked.refuse(index, json_path(error["loc"]), error["msg"].removeprefix("Value error, "))
            continue
        try:
            spec = SPECS[(document.apiVersion, document.kind)].model_validate(document.spec)
        except ValidationError as exc:
            for error in exc.errors():
                checked.refuse(index, json_path(["spec", *error["loc"]]), error["msg"].removeprefix("Value error, "))
            continue
        checked.documents.append(document)
        checked.specs.append(spec)
    if checked.errors:
        return checked
    _check_names(checked)
    return checked


def _check_names(checked: Checked) -> None:
    seen: dict[tuple[str, str], int] = {}
    for index, document in enumerate(checked.documents):
        key = (document.kind, document.metadata.name)
        if key in seen:
            checked.refuse(
                index, "$.metadata.name", f"a second {document.kind} named {key[1]} (first: documents[{seen[key]}])"
            )
        seen[key] = index


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


def _indicator_kind(sli: SLISpec) -> str:
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
            _indicator_kind(sli_spec),
            "$.spec",
        )

    adjustments = _maintenance_windows(checked)
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
        policy = _alert_policy(checked, index, spec, window)
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
                name, kind = inline.metadata.name, _indicator_kind(inline.spec)
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
                kind = _indicator_kind(checked.specs[slis[ref]]) if ref in slis else "ratio"  # type: ignore[arg-type]
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


# --- alerting and maintenance ---------------------------------------------------------------------

PAGE_SEVERITIES = {"page", "critical", "high"}
TICKET_SEVERITIES = {"ticket", "warning", "low", "info"}
NOMINAL_PERIOD = {"week": timedelta(days=7), "month": timedelta(days=30), "quarter": timedelta(days=90)}


def _period(window: dict[str, Any]) -> timedelta:
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


def _alert_policy(
    checked: Checked, index: int, spec: Any, window: dict[str, Any] | None
) -> list[dict[str, Any]] | None:
    """The burn-rate tiers of the SLO's alert policies ([] for none), or None when one cannot be measured."""
    entries = getattr(spec, "alertPolicies", [])
    if not entries or window is None:
        return []
    try:
        period = _period(window)
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


def _maintenance_windows(checked: Checked) -> dict[str, list[dict[str, Any]]]:
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
