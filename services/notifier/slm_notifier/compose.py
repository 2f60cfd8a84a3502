"""Turn a claimed delivery into the message a channel sends: secrets, rendered content, recipients."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row

from slm_notifier.channels import Channel, OutgoingMessage
from slm_notifier.contacts.book import ContactBook
from slm_notifier.contacts.rules import ACTION_EVENT_TYPES, party_side, recipients_at
from slm_notifier.escalation.links import acknowledge_link
from slm_notifier.messages import Content, Renderer
from slm_notifier.signing import secrets_in_use
from slm_shared.db import utcnow


@dataclass(frozen=True)
class AgreementFacts:
    name: str
    consumer_party_id: str | None
    provider_party_id: str | None


@dataclass(frozen=True)
class LinkSettings:
    public_url: str
    key: bytes
    ttl_seconds: int


class Composer:
    """Builds outgoing messages; rendering and contact look-ups only for the channels that need them."""

    def __init__(self, *, renderer: Renderer, contacts: ContactBook, links: LinkSettings) -> None:
        self.renderer = renderer
        self.contacts = contacts
        self.links = links

    def ack_url(self, notification_id: str | None) -> str | None:
        """A signed acknowledge link for a notification, valid for the configured time."""
        if not notification_id:
            return None
        expires = int(time.time()) + self.links.ttl_seconds
        return acknowledge_link(self.links.public_url, self.links.key, notification_id, expires=expires)

    def content(self, job: Row[Any], agreement: AgreementFacts | None) -> Content:
        """The message rendered in the subscription's language."""
        return self.renderer.render(
            event_type=job.event_type,
            event_id=job.event_id,
            data=job.payload or {},
            language=job.language or "en",
            agreement_name=agreement.name if agreement else None,
            escalation_level=job.escalation_level,
            ack_url=self.ack_url(job.notification_id),
        )

    async def recipients(self, job: Row[Any], agreement: AgreementFacts | None) -> tuple[str, ...]:
        """E-mail addresses for this delivery's escalation level: fixed ones and the party's contacts."""
        target = job.target or {}
        fixed = target.get("to") or []
        selector = target.get("contacts")
        contacts: list[dict[str, Any]] = []
        payload = job.payload or {}
        owner = payload.get("owner_email") if job.event_type in ACTION_EVENT_TYPES and selector else None
        if selector:
            if owner and payload.get("owner_party_id"):
                party_id = payload["owner_party_id"]  # an action's owner, then the levels of the owner's party
            elif party_side(selector, job.event_type) == "provider":
                party_id = agreement.provider_party_id if agreement else None
            else:
                party_id = payload.get("consumer_party_id") or (agreement.consumer_party_id if agreement else None)
            party = await self.contacts.party(tenant=job.tenant, party_id=party_id) if party_id else None
            contacts = party.contacts if party else []
        if owner and job.escalation_level <= 1:
            return tuple(dict.fromkeys([*fixed, str(owner)]))
        addresses = recipients_at(
            contacts, level=job.escalation_level, roles=(selector or {}).get("roles") or (), fixed=fixed
        )
        return tuple(addresses)

    async def compose(self, job: Row[Any], channel: Channel, agreement: AgreementFacts | None) -> OutgoingMessage:
        """Everything `channel.send` needs for one attempt."""
        needs_content = getattr(channel, "needs_content", False)
        return OutgoingMessage(
            delivery_id=job.id,
            event_id=job.event_id,
            event_type=job.event_type,
            event_time=job.event_time,
            tenant=job.tenant,
            payload=job.payload,
            target=job.target,
            secrets=secrets_in_use(job.secret, job.previous_secret, job.previous_secret_expires_at, utcnow()),
            language=job.language,
            subscription_id=job.subscription_id,
            content=self.content(job, agreement) if needs_content else None,
            recipients=await self.recipients(job, agreement) if channel.name == "email" else (),
            escalation_level=job.escalation_level,
        )
