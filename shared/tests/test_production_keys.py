"""Production has keys of its own: an audience, a service key, and JWKS-mode services that accept each
other's service tokens but never a token signed with the public development secret."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from fastapi import APIRouter
from pydantic import ValidationError

from slm_shared.app import ServiceDefinition, create_app
from slm_shared.auth import TokenVerifier, issue_service_token, issue_token
from slm_shared.auth.service import SERVICE_KEY_ID
from slm_shared.errors import Unauthorized
from slm_shared.settings import DEVELOPMENT_JWT_SECRET, ServiceSettings
from slm_shared.testing.app_client import running_app
from slm_shared.testing.jwks import JwksServer, rsa_key, signed
from slm_shared.web.deps import StaffDep

AUDIENCE = "https://slm.example/api"
SERVICE_SECRET = "a-service-key-of-production-only-0123456789"


class IdentityProvider(JwksServer):
    """The identity provider's JWKS endpoint on loopback, signing RS256 tokens with a key of its own."""

    def __init__(self) -> None:
        super().__init__("/.well-known/jwks.json")
        self.key = rsa_key()
        self.publish("idp-1", self.key)

    def token(self, **claims: Any) -> str:
        return signed(self.key, "idp-1", **{"aud": AUDIENCE, **claims})


@pytest.fixture
def idp() -> Iterator[IdentityProvider]:
    provider = IdentityProvider()
    provider.start()
    yield provider
    provider.stop()


def production(**overrides: Any) -> ServiceSettings:
    values: dict[str, Any] = {
        "environment": "production",
        "jwks_url": "http://127.0.0.1:9/jwks.json",
        "jwt_audience": AUDIENCE,
        "service_token_secret": SERVICE_SECRET,
    }
    return ServiceSettings(**{**values, **overrides})


def test_production_refuses_to_start_without_keys_of_its_own() -> None:
    assert production().service_token_key == SERVICE_SECRET
    refusals = {
        "SLM_JWT_AUDIENCE": {"jwt_audience": None},
        "SLM_SERVICE_TOKEN_SECRET": {"service_token_secret": None},
    }
    for setting, overrides in refusals.items():
        with pytest.raises(ValidationError, match=setting):
            production(**overrides)
    with pytest.raises(ValidationError, match="SLM_SERVICE_TOKEN_SECRET must be its own"):
        production(service_token_secret=DEVELOPMENT_JWT_SECRET)
    with pytest.raises(ValidationError, match="SLM_SERVICE_TOKEN_SECRET"):
        production(service_token_secret="short")
    with pytest.raises(ValidationError, match="SLM_JWT_SECRET is the development default"):
        production(jwks_url=None)
    with pytest.raises(ValidationError) as refused:
        production(jwt_audience=None, jwt_secret="a-jwt-secret-that-must-never-reach-a-log")
    assert "must-never-reach-a-log" not in str(refused.value) and SERVICE_SECRET not in str(refused.value)
    # Development keeps working with nothing set: the service key is derived from the JWT secret.
    assert len(ServiceSettings(environment="development").service_token_key) >= 32


async def test_a_jwks_service_accepts_service_tokens_and_refuses_the_development_secret(
    idp: IdentityProvider,
) -> None:
    settings = production(jwks_url=idp.url)
    verifier = TokenVerifier(
        secret=settings.jwt_secret,
        jwks_url=settings.jwks_url,
        audience=settings.jwt_audience,
        service_key=settings.service_token_key,
    )
    person = await verifier.verify(idp.token())
    assert person.subject == "alice" and person.tenant == "acme"

    service = issue_service_token(
        settings.service_token_key, service="notifier", tenant="acme", roles=["manager"], audience=AUDIENCE
    )
    called = await verifier.verify(service)
    assert called.subject == "service:notifier" and called.roles == frozenset({"manager"})

    forged = [
        # what services minted before: HS256 with the (public) development JWT secret
        issue_token(DEVELOPMENT_JWT_SECRET, tenant="acme", roles=["admin"], audience=AUDIENCE),
        # the same, dressed up as a service token
        issue_service_token(
            DEVELOPMENT_JWT_SECRET, service="notifier", tenant="acme", roles=["admin"], audience=AUDIENCE
        ),
        # a real service key but minted for another API
        issue_service_token(SERVICE_SECRET, service="notifier", tenant="acme", roles=["admin"], audience="other"),
        issue_service_token(SERVICE_SECRET, service="notifier", tenant="acme", roles=["admin"]),
        # the identity provider's key, for another audience
        idp.token(aud="https://other.example"),
        # a service key id with a person's subject
        jwt.encode(
            {
                "sub": "mallory",
                "iss": "slm-service",
                "tenant": "acme",
                "roles": ["admin"],
                "aud": AUDIENCE,
                "exp": int(time.time()) + 60,
            },
            SERVICE_SECRET,
            algorithm="HS256",
            headers={"kid": SERVICE_KEY_ID},
        ),
    ]
    for token in forged:
        with pytest.raises(Unauthorized):
            await verifier.verify(token)


whoami = APIRouter(prefix="/v1")


@whoami.get("/whoami")
async def who(principal: StaffDep) -> dict[str, str]:
    return {"subject": principal.subject, "tenant": principal.tenant}


async def test_a_production_service_over_http(idp: IdentityProvider, sqlite_url: str) -> None:
    """A service built by create_app in production with JWKS: people and peer services get in, the
    development secret does not."""
    definition = ServiceDefinition(
        name="keys", title="Keys", description="test", migrations_package="none", routers=[whoami]
    )
    settings = production(jwks_url=idp.url, database_url=sqlite_url, nats_url="nats://127.0.0.1:1", run_workers=False)
    app = create_app(definition, settings, auto_migrate=False)
    service = issue_service_token(
        SERVICE_SECRET, service="notifier", tenant="acme", roles=["manager"], audience=AUDIENCE
    )
    async with running_app(app) as client:
        for token, subject in ((idp.token(), "alice"), (service, "service:notifier")):
            answer = await client.get("/v1/whoami", headers={"Authorization": f"Bearer {token}"})
            assert answer.status_code == 200 and answer.json()["subject"] == subject, answer.text
        dev = issue_token(DEVELOPMENT_JWT_SECRET, tenant="acme", roles=["admin"], audience=AUDIENCE)
        refused = await client.get("/v1/whoami", headers={"Authorization": f"Bearer {dev}"})
        assert refused.status_code == 401 and refused.headers["content-type"] == "application/problem+json"
