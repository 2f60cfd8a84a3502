"""Notifier subscriptions for applied OpenSLO AlertNotificationTargets.

Each target that the alert policy of a service's SLOs notifies becomes, for that service, a
subscription to its burn-rate alerts (`slm.measurement.objective.burn_alert.v1`, filtered by
service key), named `openslo:<target>:<service>` so that applying again does not subscribe twice.
What `spec.target` says decides the channel:

- an http(s) URL: a webhook to that URL;
- `mailto:a@example.com[,b@example.com]`, or `email` with the annotation `slm/email-to`: e-mail;
- `pagerduty`: PagerDuty Events v2, with the routing key read from the environment variable the
  annotation `slm/routing-key-env` names (the key never sits in the documents, which the catalogue
  keeps and exports) and the endpoint from `slm/events-url` (PagerDuty's by default).

Anything else (a tool's name the notifier cannot reach, a missing key or address) is listed as not
subscribed, with the reason.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

BURN_ALERT = "slm.measurement.objective.burn_alert.v1"
EMAIL_TO = "slm/email-to"
ROUTING_KEY_ENV = "slm/routing-key-env"
ROUTING_KEY_PREFIX = "SLM_PAGERDUTY_"
EVENTS_URL = "slm/events-url"


def _named(documents: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {
        str(d["metadata"]["name"]): d
        for d in documents
        if isinstance(d, dict) and d.get("kind") == kind and isinstance(d.get("metadata"), dict)
    }


def _policy_targets(policy: dict[str, Any], targets: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Each notification target document a policy names, referenced or inline."""
    found = []
    for entry in (policy.get("spec") or {}).get("notificationTargets") or []:
        if not isinstance(entry, dict):
            continue
        ref = entry.get("targetRef")
        document = targets.get(ref) if ref else entry
        if isinstance(document, dict) and isinstance(document.get("metadata"), dict):
            found.append(document)
    return found


def channel_of(document: dict[str, Any], environ: Mapping[str, str]) -> tuple[str, dict[str, Any]] | str:
    """(channel, target) of a notification target, or why it cannot be one."""
    target = str((document.get("spec") or {}).get("target", "")).strip()
    annotations = document["metadata"].get("annotations") or {}
    if target.startswith(("http://", "https://")):
        return "webhook", {"url": target}
    if target.lower().startswith("mailto:") or target.lower() == "email":
        listed = target[len("mailto:") :] if target.lower().startswith("mailto:") else annotations.get(EMAIL_TO, "")
        addresses = [a.strip() for a in str(listed).split(",") if a.strip()]
        if not addresses:
            return f"an e-mail target needs addresses: mailto:a@example.com or the {EMAIL_TO} annotation"
        return "email", {"to": addresses}
    if target.lower() == "pagerduty":
        variable = annotations.get(ROUTING_KEY_ENV)
        if not variable:
            return f"a pagerduty target needs the {ROUTING_KEY_ENV} annotation: the variable holding the routing key"
        if not str(variable).startswith(ROUTING_KEY_PREFIX):
            # the documents choose the variable and where its value is sent: only variables meant for it
            return f"the {ROUTING_KEY_ENV} variable must be named {ROUTING_KEY_PREFIX}..., not {variable}"
        key = environ.get(str(variable))
        if not key:
            return f"the environment variable {variable} (the PagerDuty routing key) is not set"
        found: dict[str, Any] = {"routing_key": key}
        if annotations.get(EVENTS_URL):
            found["url"] = annotations[EVENTS_URL]
        return "pagerduty", found
    return f"{target or 'an empty target'} is not a URL, mailto:, email or pagerduty"


def subscriptions(
    documents: list[dict[str, Any]], environ: Mapping[str, str] | None = None
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The subscriptions the documents ask for, and each target that cannot be one with the reason."""
    environ = os.environ if environ is None else environ
    policies = _named(documents, "AlertPolicy")
    targets = _named(documents, "AlertNotificationTarget")
    wanted: dict[tuple[str, str], dict[str, Any]] = {}
    for slo in _named(documents, "SLO").values():
        spec = slo.get("spec") or {}
        for entry in spec.get("alertPolicies") or []:
            if not isinstance(entry, dict):
                continue
            policy = policies.get(entry["alertPolicyRef"]) if entry.get("alertPolicyRef") else entry
            for document in _policy_targets(policy or {}, targets):
                wanted[(str(document["metadata"]["name"]), str(spec.get("service")))] = document
    created, skipped = [], {}
    for (name, service), document in sorted(wanted.items()):
        found = channel_of(document, environ)
        if isinstance(found, str):
            skipped[name] = found
            continue
        channel, target = found
        created.append(
            {
                "name": f"openslo:{name}:{service}",
                "event_types": [BURN_ALERT],
                "channel": channel,
                "target": target,
                "filters": {"service_key": service},
            }
        )
    return created, skipped
