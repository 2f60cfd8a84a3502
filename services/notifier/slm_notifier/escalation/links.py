"""Signed acknowledge links: HMAC-SHA256 over the notification id and an expiry. Pure."""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import urlencode


def link_signature(key: bytes, notification_id: str, expires: int) -> str:
    """The hex HMAC-SHA256 of `<id>.<expires>`."""
    return hmac.new(key, f"{notification_id}.{expires}".encode(), hashlib.sha256).hexdigest()


def acknowledge_link(base_url: str, key: bytes, notification_id: str, *, expires: int) -> str:
    """The URL a recipient opens to acknowledge, valid until `expires` (Unix seconds)."""
    query = urlencode({"expires": expires, "signature": link_signature(key, notification_id, expires)})
    return f"{base_url.rstrip('/')}/v1/notifications/{notification_id}/acknowledge/signed?{query}"


def link_is_valid(key: bytes, notification_id: str, *, expires: int, signature: str, now: float) -> bool:
    """Whether the signature matches and the link has not expired."""
    expected = link_signature(key, notification_id, expires)
    return expires >= now and hmac.compare_digest(expected, signature)
