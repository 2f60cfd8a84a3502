"""Which credentials applied OpenSLO documents may name, and which they may not hold in the clear.

A credential never sits in the documents (which the catalogue keeps and exports) nor in an event:
only the name of the variable holding it travels (see `openslo_wiring`).

A prometheus DataSource's credential is named in its `connectionDetails`: `bearerTokenEnv`, or `usernameEnv`
and `passwordEnv` (basic auth), each a variable named `SLM_PROMETHEUS_<TENANT>_<NAME>` for the applying tenant,
the name at most 200 characters, that measurement reads from its own environment (`data_source_refusals`, with the
same `tenant_may_read_data_source` measurement uses). A credential written in the clear anywhere in a DataSource's
spec or in an inline `metricSource` is refused (`credential_refusals`): a key whose name holds `password`,
`passwd`, `secret`, `token`, `key`, `auth`, `credential`, `bearer`, `cookie`, `signature` or `connectionString`
with a value, unless the name ends saying where or how one is found (`...Url`, `...Uri`, `...Endpoint`, `...File`,
`...Path`, `...Type`, `...Env`, `...Ref`, `...Name`, `...Id`, `...Method`, `...Mode`: `tokenUrl`, `keyFile`,
`accessKeyID`); a `{name, value}` entry whose name is such a word (`Authorization`, `X-Api-Key`); a URL with user
information (`https://TOKEN@host`) or a query parameter named like one (`?access_token=`). The catalogue would
keep and export it.

The notifier serves every tenant, so it reads a variable for a tenant only when it is named
`SLM_PAGERDUTY_<TENANT>_<NAME>` (`SLM_SLACK_...`, `SLM_TEAMS_...`; see `tenant_may_read`), for a tenant
whose id is lower-case letters, digits and `-` only (so no two tenants share a variable).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from slm_shared.terms.openslo_wiring import DATA_SOURCE_SECRETS, SECRET_FROM_ENV

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
