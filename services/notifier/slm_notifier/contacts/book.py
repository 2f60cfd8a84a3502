"""A party's contacts: the local copy, else the agreements service's `GET /v1/parties/{id}`."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import httpx

from slm_notifier.config import Settings
from slm_notifier.contacts import repository
from slm_shared.auth import issue_service_token
from slm_shared.db import Database

logger = logging.getLogger(__name__)
SERVICE_NAME = "notifier"


class ContactLookupFailed(Exception):
    """The agreements service could not say who a party's contacts are (unreachable, refused, broken)."""


@dataclass(frozen=True)
class PartyContacts:
    party_id: str
    name: str
    contacts: list[dict[str, Any]]
    escalation_seconds: int | None = None


class ContactBook:
    """Finds a party's contacts, fetching and keeping them when no party event has arrived yet."""

    def __init__(
        self,
        db: Database,
        *,
        agreements_url: str,
        service_key: str,
        audience: str | None,
        timeout_seconds: float,
    ) -> None:
        self.db = db
        self.agreements_url = agreements_url.rstrip("/")
        self.service_key = service_key
        self.audience = audience
        self.timeout_seconds = timeout_seconds

    @classmethod
    def from_settings(cls, db: Database, settings: Settings) -> ContactBook:
        """A book that asks the configured agreements service with the platform's service key."""
        return cls(
            db,
            agreements_url=settings.agreements_url,
            service_key=settings.service_token_key,
            audience=settings.jwt_audience,
            timeout_seconds=settings.agreements_timeout_seconds,
        )

    async def party(self, *, tenant: str, party_id: str) -> PartyContacts | None:
        """The party's contacts, or None when neither the local copy nor the agreements service has it;
        raises ContactLookupFailed when the agreements service could not be asked."""
        async with self.db.session() as session:
            view = await repository.get_party(session, tenant=tenant, party_id=party_id)
            if view is not None:
                return PartyContacts(view.party_id, view.name, list(view.contacts), view.escalation_seconds)
        fetched = await self.fetch(tenant=tenant, party_id=party_id)
        if fetched is None:
            return None
        async with self.db.session() as session:
            await repository.store_party(
                session,
                tenant=tenant,
                party_id=party_id,
                name=fetched.name,
                contacts=fetched.contacts,
                escalation_seconds=fetched.escalation_seconds,
                version=0,
            )
        return fetched

    async def fetch(self, *, tenant: str, party_id: str) -> PartyContacts | None:
        """Ask the agreements service with a short-lived service token for the tenant; None when it has
        no such party, ContactLookupFailed when it could not answer."""
        token = issue_service_token(
            self.service_key, service=SERVICE_NAME, tenant=tenant, roles=("manager",), audience=self.audience
        )
        try:
            async with httpx.AsyncClient(timeout=self.timeout_seconds, follow_redirects=False) as client:
                response = await client.get(
                    f"{self.agreements_url}/v1/parties/{party_id}", headers={"Authorization": f"Bearer {token}"}
                )
        except httpx.HTTPError as exc:
            logger.warning("agreements service unreachable for party %s: %s", party_id, exc)
            raise ContactLookupFailed(f"agreements service unreachable: {type(exc).__name__}") from exc
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            logger.warning("agreements service answered %s for party %s", response.status_code, party_id)
            raise ContactLookupFailed(f"agreements service answered {response.status_code} for party {party_id}")
        try:
            body = response.json()
        except ValueError as exc:
            raise ContactLookupFailed("agreements service answered with something other than JSON") from exc
        if not isinstance(body, dict):
            raise ContactLookupFailed("agreements service answered with something other than a party")
        contacts = [c for c in body.get("contacts") or [] if isinstance(c, dict)]
        return PartyContacts(
            party_id=party_id,
            name=str(body.get("name") or ""),
            contacts=contacts,
            escalation_seconds=body.get("escalation_seconds"),
        )
