"""Secrets in subscription targets: hidden on every read, kept when a read comes back unchanged."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from slm_notifier.channels import SECRET_TARGET_FIELDS

REDACTED = "***"
SECRET_URL_CHANNELS = frozenset({"slack", "teams"})  # their incoming-webhook URL is the credential


def _secret_fields(channel: str) -> set[str]:
    return set(SECRET_TARGET_FIELDS) | ({"url"} if channel in SECRET_URL_CHANNELS else set())


def _redact(name: str, value: Any) -> Any:
    if not value:
        return value
    if name == "url" and isinstance(value, str):
        parts = urlsplit(value)
        return f"{parts.scheme}://{parts.hostname}/{REDACTED}" if parts.hostname else REDACTED
    return REDACTED


def redacted_target(channel: str, target: dict[str, Any]) -> dict[str, Any]:
    """The target as shown to readers: every credential replaced by `***`."""
    secret = _secret_fields(channel)
    return {k: (_redact(k, v) if k in secret else v) for k, v in target.items()}


def keep_stored_secrets(channel: str, stored: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """A changed target in which credentials sent back as read (redacted) keep their stored values."""
    secret = _secret_fields(channel)
    return {
        k: (stored[k] if k in secret and k in stored and v == _redact(k, stored[k]) else v) for k, v in given.items()
    }
