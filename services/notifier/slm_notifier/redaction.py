"""Secrets in subscription targets: hidden on every read, kept when a read comes back unchanged."""

from __future__ import annotations

from typing import Any
from urllib.parse import SplitResult, parse_qsl, quote, urlsplit, urlunsplit

from slm_notifier.channels import SECRET_TARGET_FIELDS
from slm_shared.errors import FieldError, Unprocessable

REDACTED = "***"
SECRET_URL_CHANNELS = frozenset({"slack", "teams"})  # their incoming-webhook URL is the credential


def _secret_fields(channel: str) -> set[str]:
    return set(SECRET_TARGET_FIELDS) | {"url"}


def _host(parts: SplitResult) -> str:
    """Host and port as written, so that two targets on one host can be told apart."""
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    return f"{host}:{port}" if port is not None else host


def _redact_url(value: str, channel: str) -> str:
    """A Slack or Teams URL keeps only scheme, host and port (its path is the credential); any other URL also
    keeps its user name, path and query keys, with the password and every query value hidden."""
    parts = urlsplit(value)
    if not parts.hostname:
        return REDACTED
    host = _host(parts)
    if channel in SECRET_URL_CHANNELS:
        return f"{parts.scheme}://{host}/{REDACTED}"
    user = ""
    if parts.username is not None:
        user = parts.username + (f":{REDACTED}" if parts.password is not None else "") + "@"
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    query = "&".join(f"{quote(k, safe='')}={REDACTED}" for k, _ in pairs) if pairs else parts.query and REDACTED
    return urlunsplit((parts.scheme, user + host, parts.path, query, ""))


def _redact(name: str, value: Any, channel: str) -> Any:
    if not value:
        return value
    if name == "url" and isinstance(value, str):
        return _redact_url(value, channel)
    return REDACTED


def redacted_target(channel: str, target: dict[str, Any]) -> dict[str, Any]:
    """The target as shown to readers: every credential replaced by `***`."""
    secret = _secret_fields(channel)
    return {k: (_redact(k, v, channel) if k in secret else v) for k, v in target.items()}


def _is_marker(name: str, value: Any, stored: dict[str, Any], channel: str) -> bool:
    return value == REDACTED or (name in stored and value == _redact(name, stored[name], channel))


def _refused(names: list[str]) -> Unprocessable:
    return Unprocessable(
        "A credential was sent as its redacted form with nothing stored to keep",
        errors=[
            FieldError(field=f"target.{n}", message="send the credential itself", type="redacted_value") for n in names
        ],
    )


def refuse_markers(channel: str, target: dict[str, Any]) -> None:
    """A new target must carry real credentials, not the redaction marker."""
    secret = _secret_fields(channel)
    marked = [k for k, v in target.items() if k in secret and _is_marker(k, v, {}, channel)]
    if marked:
        raise _refused(marked)


def keep_stored_secrets(channel: str, stored: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """A changed target in which a credential sent back redacted (`***`, or as read) keeps its stored value."""
    secret = _secret_fields(channel)
    marked = [k for k, v in given.items() if k in secret and _is_marker(k, v, stored, channel)]
    missing = [k for k in marked if k not in stored]
    if missing:
        raise _refused(missing)
    return {k: (stored[k] if k in marked else v) for k, v in given.items()}
