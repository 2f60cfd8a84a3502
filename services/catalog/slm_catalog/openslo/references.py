"""Which applied OpenSLO documents name which others: a document still named cannot be deleted on its own."""

from __future__ import annotations

from typing import Any

Ref = tuple[str, str]
_METRICS = ("good", "bad", "total", "raw")


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _spec(document: dict[str, Any]) -> dict[str, Any]:
    spec = document.get("spec")
    return spec if isinstance(spec, dict) else {}


def _sources(sli_spec: Any) -> set[Ref]:
    """The DataSources an SLI spec's metrics name."""
    if not isinstance(sli_spec, dict):
        return set()
    metrics = [sli_spec.get("thresholdMetric")]
    ratio = sli_spec.get("ratioMetric")
    if isinstance(ratio, dict):
        metrics += [ratio.get(name) for name in _METRICS]
    found = set()
    for metric in metrics:
        source = metric.get("metricSource") if isinstance(metric, dict) else None
        ref = source.get("metricSourceRef") if isinstance(source, dict) else None
        if isinstance(ref, str) and ref:
            found.add(("DataSource", ref))
    return found


def _named(pairs: list[tuple[str, Any]]) -> set[Ref]:
    return {(kind, name) for kind, name in pairs if isinstance(name, str) and name}


def named_by(document: dict[str, Any]) -> set[Ref]:
    """The (kind, name) of every document this one refers to."""
    spec, kind = _spec(document), document.get("kind")
    if kind == "SLO":
        objectives = _dicts(spec.get("objectives"))
        found = _named([("Service", spec.get("service")), ("SLI", spec.get("indicatorRef"))])
        found |= _named([("SLI", o.get("indicatorRef")) for o in objectives])
        policies = _dicts(spec.get("alertPolicies"))
        found |= _named([("AlertPolicy", p.get("alertPolicyRef")) for p in policies])
        for inline_policy in policies:  # an inline AlertPolicy names its conditions and targets itself
            found |= named_by(inline_policy) if inline_policy.get("kind") == "AlertPolicy" else set()
        for inline in [spec.get("indicator"), *(o.get("indicator") for o in objectives)]:
            found |= _sources(inline.get("spec")) if isinstance(inline, dict) else set()
        return found
    if kind == "SLI":
        return _sources(spec)
    if kind == "AlertPolicy":
        found = _named([("AlertCondition", c.get("conditionRef")) for c in _dicts(spec.get("conditions"))])
        return found | _named(
            [("AlertNotificationTarget", t.get("targetRef")) for t in _dicts(spec.get("notificationTargets"))]
        )
    if kind == "BudgetAdjustment":
        refs = spec.get("sloRefs")
        return _named([("SLO", ref) for ref in refs]) if isinstance(refs, list) else set()
    return set()


def referrers(documents: list[dict[str, Any]], kind: str, name: str) -> list[str]:
    """`Kind name` of each document that refers to (kind, name), in the order applied."""
    return [
        f"{document.get('kind')} {document['metadata']['name']}"
        for document in documents
        if (kind, name) in named_by(document)
    ]
