"""Token verification and the principal every request acts as."""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Annotated, Any

import anyio
import jwt
from cachetools import TLRUCache
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from slm_shared.auth.service import decode_service_token, is_service_token
from slm_shared.contracts.envelope import tenant_refusal
from slm_shared.errors import Forbidden, Unauthorized
from slm_shared.web.bounds import ACTOR_MAX_LENGTH, PARTY_ID_MAX_LENGTH, text_refusal

ADMIN = "admin"
MANAGER = "manager"
CUSTOMER = "customer"
INGEST = "ingest"
ROLES = frozenset({ADMIN, MANAGER, CUSTOMER, INGEST})

_bearer = HTTPBearer(auto_error=False)


@dataclass(frozen=True)
class Principal:
    """Who is calling: the verified token's subject, tenant, roles and party."""

    subject: str
    tenant: str
    roles: frozenset[str] = field(default_factory=frozenset)
    party: str | None = None

    def has_any(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))

    @property
    def is_customer_only(self) -> bool:
        """A customer with no staff role: sees only its own party's records."""
        return CUSTOMER in self.roles and not self.has_any(ADMIN, MANAGER)


CACHE_SIZE = 4096  # verified tokens remembered per process (see `TokenVerifier`)


class TokenVerifier:
    """Verifies HS256 tokens with a shared secret, or RS/ES tokens from a JWKS URL; and, with a
    service key, the HS256 tokens services send each other (see `slm_shared.auth.service`).

    A client sends the same token with every request until it expires, and checking a signature
    costs more than a hot read's query; so a token that verified is remembered (by its exact text,
    at most `cache_size` of them, the least recently used dropped first) until its `exp`, and at most
    `cache_seconds`. The JWKS itself is fetched again once `cache_seconds` old, so a key withdrawn from
    it stops being honoured within twice that bound. A token that failed is never remembered.
    """

    cache_seconds = 60.0

    def __init__(
        self,
        *,
        secret: str | None = None,
        jwks_url: str | None = None,
        audience: str | None = None,
        issuer: str | None = None,
        service_key: str | None = None,
    ) -> None:
        self.secret = secret
        self.audience = audience
        self.issuer = issuer
        self.service_key = service_key
        # The key set is fetched again once it is `cache_seconds` old (no per-key memory without expiry).
        self._jwks = (
            jwt.PyJWKClient(jwks_url, cache_keys=False, cache_jwk_set=True, lifespan=self.cache_seconds)
            if jwks_url
            else None
        )
        self.cache_size = CACHE_SIZE

    @property
    def cache_size(self) -> int:
        """At most how many verified tokens are remembered; setting it forgets those remembered."""
        return int(self._verified.maxsize)

    @cache_size.setter
    def cache_size(self, size: int) -> None:
        # token -> (principal, until): each kept until its own `until` (epoch seconds, as `exp` is)
        self._verified: TLRUCache[str, tuple[Principal, float]] = TLRUCache(size, _until, timer=time.time)

    def _decode(self, token: str) -> dict[str, Any]:
        if is_service_token(token):
            if not self.service_key:
                raise jwt.InvalidTokenError("service tokens are not accepted here")
            return decode_service_token(token, self.service_key, audience=self.audience)
        options: Any = {"require": ["exp", "sub"], "verify_aud": self.audience is not None}
        if self._jwks is not None:
            key = self._jwks.get_signing_key_from_jwt(token).key
            algorithms = ["RS256", "ES256", "PS256"]
        else:
            key, algorithms = self.secret, ["HS256"]
        return jwt.decode(
            token, key, algorithms=algorithms, audience=self.audience, issuer=self.issuer, options=options
        )

    async def verify(self, token: str) -> Principal:
        """Decode and check a token; raises Unauthorized with the reason."""
        try:
            return self._verified[token][0]  # indexing: `get` costs a hit 1 us more (its timer context)
        except KeyError:
            pass
        now = time.time()
        principal, expires = await self._verify(token)
        self._verified[token] = (principal, min(expires, now + self.cache_seconds))
        return principal

    async def _verify(self, token: str) -> tuple[Principal, float]:
        """The principal a token names, and when the token expires (epoch seconds)."""
        try:
            if self._jwks is not None:
                claims = await anyio.to_thread.run_sync(self._decode, token)
            else:
                claims = self._decode(token)
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized("The token has expired") from exc
        except (jwt.PyJWTError, ValueError) as exc:
            raise Unauthorized(f"The token is not valid: {exc}") from exc
        tenant = claims.get("tenant")
        roles = claims.get("roles", [])
        if not isinstance(tenant, str) or not tenant:
            raise Unauthorized("The token carries no tenant")
        subject = str(claims["sub"])
        party = str(claims["party"]) if claims.get("party") else None
        if why := claims_refusal(tenant=tenant, subject=subject, party=party):
            raise Unauthorized(why)
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            raise Unauthorized("The token's roles must be a list of strings")
        if CUSTOMER in roles and not party:
            raise Unauthorized("A customer token must name its party")
        principal = Principal(
            subject=subject,
            tenant=tenant,
            roles=frozenset(r for r in roles if r in ROLES),
            party=party,
        )
        return principal, float(claims["exp"])


def claims_refusal(*, tenant: str, subject: str, party: str | None) -> str | None:
    """Why the services refuse a token with these claims (naming the claim), or None if they take them.

    Every table, and every event, keeps a tenant in `TENANT_MAX_LENGTH` characters; a subject is kept as who acted
    (`ACTOR_MAX_LENGTH`), a party compared with and kept as a party id (`PARTY_ID_MAX_LENGTH`). Each is refused
    where a column could not keep it (longer, U+0000, a lone surrogate), never a write or a query the database
    refuses (a 500). Checked by `TokenVerifier` (a 401) and by `slm-token` before it issues one.
    """
    if why := tenant_refusal(tenant):
        return f"The token's tenant {why}"
    if why := text_refusal(subject, ACTOR_MAX_LENGTH):
        return f"The token's subject (sub) {why}"
    if party is not None and (why := text_refusal(party, PARTY_ID_MAX_LENGTH)):
        return f"The token's party {why}"
    return None


def _until(_token: str, remembered: tuple[Principal, float], _now: float) -> float:
    """When a verified token stops being remembered: the `until` kept with it."""
    return remembered[1]


def issue_token(
    secret: str,
    *,
    tenant: str,
    roles: Iterable[str],
    subject: str | None = None,
    party: str | None = None,
    ttl_seconds: int = 3600,
    audience: str | None = None,
    issuer: str | None = None,
) -> str:
    """Issue an HS256 token (development and tests)."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": subject or f"dev-{uuid.uuid4().hex[:8]}",
        "tenant": tenant,
        "roles": sorted(set(roles)),
        "iat": now,
        "exp": now + ttl_seconds,
    }
    if party:
        claims["party"] = party
    if audience:
        claims["aud"] = audience
    if issuer:
        claims["iss"] = issuer
    return jwt.encode(claims, secret, algorithm="HS256")


async def get_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """Dependency: the verified principal of this request."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized()
    verifier: TokenVerifier = request.app.state.token_verifier
    # Not kept on `request.state`: nothing reads it there, and making the request's state object cost
    # a hot read 2.5% of its samples.
    return await verifier.verify(credentials.credentials)


PrincipalDep = Annotated[Principal, Depends(get_principal)]


class _RolesBearer(HTTPBearer):
    """Dependency: the verified principal of this request, if it holds one of `roles`.

    One dependency where there were three (bearer credentials, principal, role check): FastAPI
    resolves every level of a route's dependency tree on each request, which cost a hot read more than
    its query. Being the bearer scheme itself, it shows in OpenAPI as `HTTPBearer`, as before.
    """

    def __init__(self, roles: Iterable[str]) -> None:
        super().__init__(auto_error=False, scheme_name="HTTPBearer")
        self.roles = frozenset(roles)
        self.refusal = f"This action needs one of the roles: {', '.join(sorted(self.roles))}"

    async def __call__(self, request: Request) -> Principal:  # type: ignore[override]
        principal = await get_principal(request, await super().__call__(request))
        if not principal.roles & self.roles:
            raise Forbidden(self.refusal)
        return principal


def require_roles(*roles: str) -> Callable[[Request], Awaitable[Principal]]:
    """Dependency factory: the principal, if it holds one of `roles`."""
    return _RolesBearer(roles)
