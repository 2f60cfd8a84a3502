"""What applied OpenSLO documents ask of measurement and the notifier: pulled series and subscriptions.

The catalogue reads this from the documents it accepts and publishes it (`slm.catalog.openslo.applied`);
measurement pulls the PromQL SLIs, the notifier subscribes the AlertNotificationTargets; the `slm` CLI
reads the same to tell its user what the platform made of them.

A target's `spec.target` decides the channel:

- an http(s) URL: a webhook to that URL;
- `mailto:a@example.com[,b@example.com]`, or `email` with the annotation `slm/email-to`: e-mail;
- `pagerduty`: PagerDuty Events v2; the routing key is read from the environment variable the
  annotation `slm/routing-key-env` names (`SLM_PAGERDUTY_...`), the endpoint from `slm/events-url`;
- `slack` or `teams`: the chat channel; its incoming-webhook URL (a credential) is read from the
  variable the annotation `slm/webhook-url-env` names (`SLM_SLACK_...` or `SLM_TEAMS_...`).

A credential never sits in the documents (which the catalogue keeps and exports) nor in an event:
only the variable's name travels, and whoever holds the variable (the notifier, or the CLI's user)
supplies the value, which the notifier stores encrypted. A prometheus DataSource's credential is named
the same way in its `connectionDetails`. Which variables a tenant may name, and which credentials
written in the clear are refused, is in `openslo_credentials`.

The notifier never takes a destination from the documents for a credential it holds: PagerDuty events
go to its configured Events API URL, `slm/events-url` is for `slm apply` (whose user holds the key) only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

BURN_ALERT = "slm.measurement.objective.burn_alert.v1"
PROMETHEUS = "prometheus"
QUERIES = ("good_query", "total_query", "value_query")
DEFAULT_STEP_SECONDS = 60
STEP_ANNOTATION = "slm/step-seconds"
EMAIL_TO = "slm/email-to"
ROUTING_KEY_ENV = "slm/routing-key-env"
WEBHOOK_URL_ENV = "slm/webhook-url-env"
EVENTS_URL = "slm/events-url"
# channel: (annotation naming the variable, prefix the variable must have, target field it fills)
SECRET_FROM_ENV: dict[str, tuple[str, str, str]] = {
    "pagerduty": (ROUTING_KEY_ENV, "SLM_PAGERDUTY_", "routing_key"),
    "slack": (WEBHOOK_URL_ENV, "SLM_SLACK_", "url"),
    "teams": (WEBHOOK_URL_ENV, "SLM_TEAMS_", "url"),
}

# connectionDetails key naming a variable: the field of the data source it fills
DATA_SOURCE_SECRETS = {
    "bearerTokenEnv": "bearer_token_env",
    "usernameEnv": "username_env",
    "passwordEnv": "password_env",
}
Documents = list[dict[str, Any]]


def _named(documents: Documents, kind: str) -> dict[str, dict[str, Any]]:
    return {
        str(d["metadata"]["name"]): d
        for d in documents
        if isinstance(d, dict) and d.get("kind") == kind and isinstance(d.get("metadata"), dict)
    }


def _query(metric: Any) -> tuple[str | None, str | None]:
    """(data source name, PromQL) of a v1 metric, where it names both."""
    if not isinstance(metric, dict):
        return None, None
    source = metric.get("metricSource") or {}
    spec = source.get("spec") or {}
    return source.get("metricSourceRef"), spec.get("query")


def data_sources(documents: Documents) -> list[dict[str, Any]]:
    """Measurement data sources for the prometheus DataSources (url from connectionDetails, credentials by variable
    name)."""
    found = []
    for name, doc in _named(documents, "DataSource").items():
        spec = doc.get("spec") or {}
        if str(spec.get("type", "")).lower() == PROMETHEUS:
            details = spec.get("connectionDetails") or {}
            url = details.get("url")
            if isinstance(url, str) and url:
                secrets = {field: details[key] for key, field in DATA_SOURCE_SECRETS.items() if details.get(key)}
                found.append({"name": name, "type": PROMETHEUS, "url": url, **secrets})
    return found


def _step(sli: dict[str, Any]) -> int:
    annotations = (sli.get("metadata") or {}).get("annotations") or {}
    try:
        step = int(str(annotations.get(STEP_ANNOTATION, DEFAULT_STEP_SECONDS)))
    except ValueError:
        return DEFAULT_STEP_SECONDS
    return step if 15 <= step <= 3600 else DEFAULT_STEP_SECONDS


def _sli_series(sli: dict[str, Any], sources: set[str]) -> dict[str, Any] | None:
    spec = sli.get("spec") or {}
    step = {"step_seconds": _step(sli)}
    if threshold := spec.get("thresholdMetric"):
        ref, query = _query(threshold)
        return {"data_source": ref, "value_query": query, **step} if ref in sources and query else None
    ratio = spec.get("ratioMetric") or {}
    total_ref, total = _query(ratio.get("total"))
    if total_ref not in sources or not total:
        return None
    if ratio.get("good"):
        good_ref, good = _query(ratio["good"])
        if good_ref == total_ref and good:
            return {"data_source": total_ref, "good_query": good, "total_query": total, **step}
    if ratio.get("bad"):
        bad_ref, bad = _query(ratio["bad"])
        if bad_ref == total_ref and bad:
            return {"data_source": total_ref, "good_query": f"({total}) - ({bad})", "total_query": total, **step}
    return None


def pulled_series(documents: Documents) -> list[dict[str, Any]]:
    """One pulled series per SLO whose SLI (inline or referenced) is PromQL on a prometheus DataSource."""
    sources = {source["name"] for source in data_sources(documents)}
    slis = _named(documents, "SLI")
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for doc in _named(documents, "SLO").values():
        if doc.get("apiVersion") != "openslo/v1":
            continue
        spec = doc.get("spec") or {}
        for objective in spec.get("objectives") or [{}]:
            sli = objective.get("indicator") or spec.get("indicator")
            ref = objective.get("indicatorRef") or spec.get("indicatorRef")
            sli = sli or slis.get(ref or "")
            if not isinstance(sli, dict) or not isinstance(sli.get("metadata"), dict):
                continue
            series = _sli_series(sli, sources)
            if series:
                key = (str(spec.get("service")), str(sli["metadata"]["name"]))
                found[key] = {"service": key[0], "indicator": key[1], "good_query": None, "total_query": None}
                found[key] |= {"value_query": None, **series}
    return list(found.values())


def differs(held: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    """Whether a series as held (its source by name) is not the one the documents define: queries, step, source."""
    return any(held.get(name) != wanted.get(name) for name in (*QUERIES, "step_seconds", "data_source"))


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


def channel_of(document: dict[str, Any]) -> tuple[str, dict[str, Any], str | None] | str:
    """(channel, target without its credential, variable holding the credential) of a target, or why not one."""
    target = str((document.get("spec") or {}).get("target", "")).strip()
    annotations = document["metadata"].get("annotations") or {}
    lowered = target.lower()
    if target.startswith(("http://", "https://")):
        return "webhook", {"url": target}, None
    if lowered.startswith("mailto:") or lowered == "email":
        listed = target[len("mailto:") :] if lowered.startswith("mailto:") else annotations.get(EMAIL_TO, "")
        addresses = [a.strip() for a in str(listed).split(",") if a.strip()]
        if not addresses:
            return f"an e-mail target needs addresses: mailto:a@example.com or the {EMAIL_TO} annotation"
        return "email", {"to": addresses}, None
    if lowered in SECRET_FROM_ENV:
        annotation, prefix, _ = SECRET_FROM_ENV[lowered]
        variable = annotations.get(annotation)
        if not variable:
            return f"a {lowered} target needs the {annotation} annotation: the variable holding its credential"
        if not str(variable).startswith(prefix):
            # the documents choose the variable and where its value is sent: only variables meant for it
            return f"the {annotation} variable must be named {prefix}..., not {variable}"
        found: dict[str, Any] = {}
        if lowered == "pagerduty" and annotations.get(EVENTS_URL):
            found["url"] = str(annotations[EVENTS_URL])
        return lowered, found, str(variable)
    return f"{target or 'an empty target'} is not a URL, mailto:, email, pagerduty, slack or teams"


def with_secret(
    channel: str, target: dict[str, Any], variable: str | None, environ: Mapping[str, str]
) -> dict[str, Any] | None:
    """The target with its credential read from `environ`; None when the variable is not set there."""
    if variable is None:
        return dict(target)
    value = environ.get(variable)
    if not value:
        return None
    return {**target, SECRET_FROM_ENV[channel][2]: value}


def notification_targets(documents: Documents) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The subscriptions the documents ask for (credentials by variable name), and each target that cannot be one."""
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
    found, skipped = [], {}
    for (name, service), document in sorted(wanted.items()):
        channel = channel_of(document)
        if isinstance(channel, str):
            skipped[name] = channel
            continue
        kind, target, variable = channel
        found.append(
            {
                "name": f"openslo:{name}:{service}",
                "service_key": service,
                "channel": kind,
                "target": target,
                "secret_env": variable,
            }
        )
    return found, skipped
