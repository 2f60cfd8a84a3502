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
supplies the value, which the notifier stores encrypted.

A prometheus DataSource's credential is named the same way in its `connectionDetails`:
`bearerTokenEnv`, or `usernameEnv` and `passwordEnv` (basic auth), each a variable named
`SLM_PROMETHEUS_<TENANT>_<NAME>` for the applying tenant, the name at most 200 characters, that measurement
reads from its own environment (`data_source_refusals`, with the same `tenant_may_read_data_source` measurement
uses). A credential written in the clear anywhere in a DataSource's spec or in an inline `metricSource` is refused
(`credential_refusals`): a key whose name holds `password`, `passwd`, `secret`, `token`, `key`, `auth`,
`credential`, `bearer`, `cookie`, `signature` or `connectionString` with a value, unless the name ends saying where
or how one is found (`...Url`, `...Uri`, `...Endpoint`, `...File`, `...Path`, `...Type`, `...Env`, `...Ref`,
`...Name`, `...Id`, `...Method`, `...Mode`: `tokenUrl`, `keyFile`, `accessKeyID`); a `{name, value}` entry whose
name is such a word (`Authorization`, `X-Api-Key`); a URL with user information (`https://TOKEN@host`) or a query
parameter named like one (`?access_token=`). The catalogue would keep and export it.

The notifier serves every tenant, so it reads a variable for a tenant only when it is named
`SLM_PAGERDUTY_<TENANT>_<NAME>` (`SLM_SLACK_...`, `SLM_TEAMS_...`; see `tenant_may_read`), for a tenant
whose id is lower-case letters, digits and `-` only (so no two tenants share a variable), and it
never takes a destination from the documents for a credential it holds: PagerDuty events go to its
configured Events API URL, `slm/events-url` is for `slm apply` (whose user holds the key) only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

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
DATA_SOURCE_PREFIX = "SLM_PROMETHEUS_"
# the longest URL and variable name an applied data source carries (`OpenSLODataSourceV1`)
URL_MAX_LENGTH = 2000
VARIABLE_MAX_LENGTH = 200
# words in key names (lower-case, without `_` and `-`) holding a credential when written in the clear
_CREDENTIAL_WORDS = (
    "password",
    "passwd",
    "secret",
    "token",
    "key",
    "auth",
    "credential",
    "bearer",
    "cookie",
    "signature",
    "connectionstring",
)
# ...unless the name ends saying where or how a credential is found (`tokenUrl`, `keyFile`, `accessKeyID`, `*Env`)
_NOT_A_CREDENTIAL = ("url", "uri", "endpoint", "file", "path", "type", "env", "ref", "name", "id", "method", "mode")
Documents = list[dict[str, Any]]
_VARIABLE_NAME = re.compile(r"[A-Z0-9]+")


# tenant ids that name variables: upper-casing and `-` as `_` is then one-to-one (`acme-x`, never `acme_x` or `Acme-X`)
_NAMING_TENANT = re.compile(r"[a-z0-9-]+")


def tenant_names_variables(tenant: str) -> bool:
    """Whether the notifier reads credentials for this tenant: its id lower-case letters, digits and `-` only.

    Any wider alphabet would let two tenants share variables (`acme-x`, `acme_x` and `ACME.X` would all be
    `ACME_X`), so one tenant's manager could name another's key."""
    return _NAMING_TENANT.fullmatch(tenant) is not None


def tenant_variable_prefix(channel: str, tenant: str) -> str:
    """`SLM_PAGERDUTY_<TENANT>_` (tenant upper-cased, `-` as `_`): the notifier's variables for one tenant's
    targets of that channel; only meaningful where `tenant_names_variables(tenant)`."""
    return _prefixed(SECRET_FROM_ENV[channel][1], tenant)


def _prefixed(prefix: str, tenant: str) -> str:
    return f"{prefix}{tenant.upper().replace('-', '_')}_"


def _readable(prefix: str, variable: str) -> bool:
    return variable.startswith(prefix) and _VARIABLE_NAME.fullmatch(variable[len(prefix) :]) is not None


def tenant_may_read(channel: str, tenant: str, variable: str) -> bool:
    """Whether the notifier reads `variable` for this tenant: `<prefix><TENANT>_<NAME>`, the tenant one that names
    variables, NAME letters and digits only (so tenant `acme` never reaches `SLM_PAGERDUTY_ACME_X_KEY`, tenant
    `acme-x`'s, and tenant `acme_x` none at all)."""
    return tenant_names_variables(tenant) and _readable(tenant_variable_prefix(channel, tenant), variable)


def data_source_variable_prefix(tenant: str) -> str:
    """`SLM_PROMETHEUS_<TENANT>_`: the variables measurement reads for one tenant's data source credentials."""
    return _prefixed(DATA_SOURCE_PREFIX, tenant)


def tenant_may_read_data_source(tenant: str, variable: str) -> bool:
    """Whether measurement reads `variable` for this tenant: `SLM_PROMETHEUS_<TENANT>_<NAME>`, as for targets."""
    return tenant_names_variables(tenant) and _readable(data_source_variable_prefix(tenant), variable)


def _looks_like_credential(key: str) -> bool:
    folded = key.lower().replace("_", "").replace("-", "")
    return any(word in folded for word in _CREDENTIAL_WORDS) and not folded.endswith(_NOT_A_CREDENTIAL)


def _url_refusal(value: str) -> str | None:
    """Why a URL carries a credential: any user information, or a query parameter named like a credential."""
    if "://" not in value:
        return None
    try:
        parts = urlsplit(value.strip())
        parameters = parse_qsl(parts.query, keep_blank_values=True)
    except ValueError:
        return None
    if "@" in parts.netloc:
        return "a URL's user information is a credential: use bearerTokenEnv, or usernameEnv and passwordEnv"
    named = [name for name, _ in parameters if _looks_like_credential(name)]
    if named:
        return f"a URL's query parameter {named[0]} is a credential: use bearerTokenEnv"
    return None


_IN_THE_CLEAR = (
    "a credential is not kept in the documents: name a variable with bearerTokenEnv, or usernameEnv and passwordEnv "
    f"({DATA_SOURCE_PREFIX}<TENANT>_<NAME>), or register it with POST /v1/datasources"
)
# keys of a {name: ..., value: ...} entry (a header list): the entry holds a credential when its name looks like one
_PAIR_NAMES = ("name", "key", "header")


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def credential_refusals(value: Any, path: str = "") -> list[tuple[str, str]]:
    """(path, reason) of each credential written in the clear anywhere in `value`: a key named like one (`password`,
    `apiKey`, `licenseKey`, `connectionString`, `auth`...) with a value, a `{name, value}` entry whose name is
    (`Authorization`, `X-Api-Key`), and a URL with user information or a query parameter named like one."""
    found: list[tuple[str, str]] = []
    if isinstance(value, list):
        for index, item in enumerate(value):
            found += credential_refusals(item, _join(path, index))
        return found
    if not isinstance(value, dict):
        if isinstance(value, str) and (reason := _url_refusal(value)):
            found.append((path, reason))
        return found
    named = next((value[key] for key in _PAIR_NAMES if isinstance(value.get(key), str)), None)
    if named is not None and _looks_like_credential(named) and value.get("value") not in (None, "", True, False):
        found.append((_join(path, "value"), f"the {named} value is a credential: {_IN_THE_CLEAR}"))
    for key, item in value.items():
        where = _join(path, str(key))
        if isinstance(item, dict | list):
            found += credential_refusals(item, where)
        elif _looks_like_credential(str(key)) and item not in (None, "", True, False):
            found.append((where, _IN_THE_CLEAR))
        else:
            found += credential_refusals(item, where)
    return found


def metric_source_refusals(document: Any, path: str = "$") -> list[tuple[str, str]]:
    """(JSON path, reason) of each credential in the clear in a document's inline metric sources (`metricSource`,
    e.g. a Datadog apiKey), wherever it sits (SLI, SLO with an inline indicator)."""
    found: list[tuple[str, str]] = []
    items = (
        document.items() if isinstance(document, dict) else enumerate(document) if isinstance(document, list) else ()
    )
    for key, item in items:
        where = f"{path}[{key}]" if isinstance(key, int) else f"{path}.{key}"
        if key == "metricSource" and isinstance(item, dict):
            found += credential_refusals(item, where)
        elif isinstance(item, dict | list):
            found += metric_source_refusals(item, where)
    return found


def data_source_refusals(spec: Any, tenant: str) -> list[tuple[str, str]]:
    """(path under the spec, reason) of each credential a DataSource's spec holds in the clear, anywhere in it, and of
    each variable reference measurement would not read for this tenant (`tenant_may_read_data_source`); empty when it
    may be kept, exported and published as it is."""
    if not isinstance(spec, dict):
        return []
    found = credential_refusals(spec)
    details = spec.get("connectionDetails")
    if not isinstance(details, dict):
        return found
    url = details.get("url")
    if isinstance(url, str) and len(url) > URL_MAX_LENGTH:
        found.append(("connectionDetails.url", f"a data source URL is at most {URL_MAX_LENGTH} characters"))
    for key in DATA_SOURCE_SECRETS:
        if key not in details:
            continue
        where, variable = f"connectionDetails.{key}", details[key]
        if not isinstance(variable, str) or not variable.startswith(DATA_SOURCE_PREFIX):
            found.append((where, f"names the variable holding the credential: {DATA_SOURCE_PREFIX}<TENANT>_<NAME>"))
        elif len(variable) > VARIABLE_MAX_LENGTH:
            found.append((where, f"a variable name is at most {VARIABLE_MAX_LENGTH} characters"))
        elif not tenant_may_read_data_source(tenant, variable):
            found.append((where, _not_this_tenants(tenant)))
    given = {key for key in DATA_SOURCE_SECRETS if key in details}
    if "bearerTokenEnv" in given and given - {"bearerTokenEnv"}:
        found.append(("connectionDetails", "give bearerTokenEnv, or usernameEnv and passwordEnv, not both"))
    elif len(given - {"bearerTokenEnv"}) == 1:
        found.append(("connectionDetails", "basic auth needs both usernameEnv and passwordEnv"))
    return found


def _not_this_tenants(tenant: str) -> str:
    if not tenant_names_variables(tenant):
        return "measurement reads credentials only for tenants whose id is lower-case letters, digits and '-'"
    prefix = data_source_variable_prefix(tenant)
    return f"measurement reads this tenant's credentials only from {prefix}<NAME> (NAME letters and digits)"


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
