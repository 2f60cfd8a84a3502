"""Notifier subscriptions for applied OpenSLO AlertNotificationTargets.

A target whose `spec.target` is an http(s) URL becomes, for each service whose SLOs name an alert
policy that notifies it, a webhook subscription to that service's burn-rate alerts
(`slm.measurement.objective.burn_alert.v1`, filtered by service key), named
`openslo:<target>:<service>` so that applying again does not subscribe twice. Any other target
(a tool's name such as `pagerduty`) says nothing the notifier could deliver to, and is listed as
not subscribed.
"""

from __future__ import annotations

from typing import Any

BURN_ALERT = "slm.measurement.objective.burn_alert.v1"


def _named(documents: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {
        str(d["metadata"]["name"]): d
        for d in documents
        if isinstance(d, dict) and d.get("kind") == kind and isinstance(d.get("metadata"), dict)
    }


def _policy_targets(policy: dict[str, Any], targets: dict[str, dict[str, Any]]) -> list[tuple[str, str]]:
    """(name, target) of each notification target a policy names, referenced or inline."""
    found = []
    for entry in (policy.get("spec") or {}).get("notificationTargets") or []:
        if not isinstance(entry, dict):
            continue
        ref = entry.get("targetRef")
        document = targets.get(ref) if ref else entry
        if isinstance(document, dict) and isinstance(document.get("metadata"), dict):
            found.append((str(document["metadata"]["name"]), str((document.get("spec") or {}).get("target", ""))))
    return found


def subscriptions(documents: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
    """The webhook subscriptions the documents ask for, and the targets that cannot be one."""
    policies = _named(documents, "AlertPolicy")
    targets = _named(documents, "AlertNotificationTarget")
    wanted: dict[tuple[str, str], str] = {}
    for slo in _named(documents, "SLO").values():
        spec = slo.get("spec") or {}
        for entry in spec.get("alertPolicies") or []:
            if not isinstance(entry, dict):
                continue
            policy = policies.get(entry["alertPolicyRef"]) if entry.get("alertPolicyRef") else entry
            for name, url in _policy_targets(policy or {}, targets):
                wanted[(name, str(spec.get("service")))] = url
    created = [
        {
            "name": f"openslo:{name}:{service}",
            "event_types": [BURN_ALERT],
            "channel": "webhook",
            "target": {"url": url},
            "filters": {"service_key": service},
        }
        for (name, service), url in sorted(wanted.items())
        if url.startswith(("http://", "https://"))
    ]
    skipped = sorted({name for (name, _), url in wanted.items() if not url.startswith(("http://", "https://"))})
    return created, skipped
