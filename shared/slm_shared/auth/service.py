"""Tokens services send each other: HS256 with the service key, told apart by their key id.

Production verifies people's tokens against the identity provider's JWKS; a service has no such
key of its own, so every service shares `SLM_SERVICE_TOKEN_SECRET` and accepts, beside the JWKS
tokens, HS256 tokens that name the service key id, come from the service issuer, carry the
platform's audience and a `service:` subject. The development JWT secret never signs one in
production (the settings refuse to start without a service secret of its own).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import jwt

SERVICE_KEY_ID = "slm-service"
SERVICE_ISSUER = "slm-service"
SERVICE_SUBJECT_PREFIX = "service:"
SERVICE_TOKEN_SECONDS = 300


def issue_service_token(
    key: str,
    *,
    service: str,
    tenant: str,
    roles: Iterable[str],
    audience: str | None = None,
    ttl_seconds: int = SERVICE_TOKEN_SECONDS,
) -> str:
    """A short-lived token for `service` acting within `tenant`, signed with the service key."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": f"{SERVICE_SUBJECT_PREFIX}{service}",
        "iss": SERVICE_ISSUER,
        "tenant": tenant,
        "roles": sorted(set(roles)),
        "iat": now,
        "exp": now + ttl_seconds,
    }
    if audience:
        claims["aud"] = audience
    return jwt.encode(claims, key, algorithm="HS256", headers={"kid": SERVICE_KEY_ID})


def is_service_token(token: str) -> bool:
    """Whether the token's header names the service key (its signature is checked separately)."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        return False
    return header.get("kid") == SERVICE_KEY_ID


def decode_service_token(token: str, key: str, *, audience: str | None) -> dict[str, Any]:
    """The claims of a valid service token; raises `jwt.PyJWTError` otherwise."""
    options: Any = {"require": ["exp", "sub", "iss"], "verify_aud": audience is not None}
    claims: dict[str, Any] = jwt.decode(
        token, key, algorithms=["HS256"], audience=audience, issuer=SERVICE_ISSUER, options=options
    )
    if not str(claims["sub"]).startswith(SERVICE_SUBJECT_PREFIX):
        raise jwt.InvalidTokenError("a service token's subject names a service")
    return claims
