"""Production keys of the notifier: acknowledge links and stored credentials need keys of their own,
and its calls to a JWKS-mode agreements service carry a service token that service accepts."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.fernet import Fernet
from fakes import agreements, serving
from pydantic import ValidationError

from slm_notifier.config import Settings
from slm_notifier.contacts.book import ContactBook, ContactLookupFailed
from slm_notifier.crypto import DEVELOPMENT_SECRET_KEY
from slm_shared import migrations
from slm_shared.auth import TokenVerifier
from slm_shared.db import Database
from slm_shared.settings import DEVELOPMENT_JWT_SECRET

AUDIENCE = "https://slm.example/api"
SERVICE_SECRET = "a-service-key-of-production-only-0123456789"


def production(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "environment": "production",
        "jwks_url": "http://127.0.0.1:9/jwks.json",
        "jwt_audience": AUDIENCE,
        "service_token_secret": SERVICE_SECRET,
        "ack_link_secret": "acknowledge-links-have-a-key-of-their-own",
        "secret_keys": Fernet.generate_key().decode(),
    }
    return Settings(**{**values, **overrides})


def test_production_needs_its_own_link_and_storage_keys() -> None:
    settings = production()
    assert settings.ack_signing_key == b"acknowledge-links-have-a-key-of-their-own"
    for overrides in ({"ack_link_secret": None}, {"ack_link_secret": DEVELOPMENT_JWT_SECRET}):
        with pytest.raises(ValidationError, match="NOTIFIER_ACK_LINK_SECRET"):
            production(**overrides)
    for overrides in (
        {"secret_keys": None},
        {"secret_keys": f"{Fernet.generate_key().decode()},{DEVELOPMENT_SECRET_KEY}"},
    ):
        with pytest.raises(ValidationError, match="NOTIFIER_SECRET_KEYS"):
            production(**overrides)
    with pytest.raises(ValidationError, match="key 2 is not a Fernet key"):
        Settings(environment="test", secret_keys=f"{Fernet.generate_key().decode()},not-a-key")
    with pytest.raises(ValidationError, match="SLM_JWT_AUDIENCE"):
        production(jwt_audience=None)


async def test_contacts_are_read_from_a_jwks_mode_agreements_service(sqlite_url: str) -> None:
    await migrations.upgrade("slm_notifier", sqlite_url)
    settings = production(database_url=sqlite_url)
    # The agreements service in production: people's tokens from the JWKS, services' with the service key.
    peer = TokenVerifier(jwks_url=settings.jwks_url, audience=AUDIENCE, service_key=SERVICE_SECRET)
    party = {"name": "Beta", "contacts": [{"name": "Sam", "email": "slm@beta.example", "escalation_level": 1}]}
    db = Database(sqlite_url)
    try:
        async with serving(agreements({"party-beta": party}, verifier=peer)) as fake:
            book = ContactBook.from_settings(db, settings.model_copy(update={"agreements_url": fake.url}))
            found = await book.party(tenant="acme", party_id="party-beta")
            assert found is not None and found.contacts[0]["email"] == "slm@beta.example"
            assert fake.state["subjects"] == ["service:notifier"] and fake.state["tenants"] == ["acme"]
            assert await book.party(tenant="acme", party_id="party-gone") is None  # 404: no such party

            # A notifier still signing with the development secret is refused, and says so.
            dev = ContactBook.from_settings(
                db, Settings(environment="development", database_url=sqlite_url, agreements_url=fake.url)
            )
            with pytest.raises(ContactLookupFailed, match="401"):
                await dev.fetch(tenant="acme", party_id="party-beta")
            assert fake.state["refused"]
    finally:
        await db.dispose()
