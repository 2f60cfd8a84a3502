"""Dead letters of the idempotent inbox: a message that kept failing is kept, and replayed on request."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any, NamedTuple

from nats.aio.msg import Msg
from sqlalchemy import select
from sqlmodel import col

from slm_shared.bus.models import SUBJECT_MAX_LENGTH, DeadLetter, InboxMessage
from slm_shared.contracts.envelope import (
    EVENT_ID_MAX_LENGTH,
    EVENT_TYPE_MAX_LENGTH,
    TENANT_MAX_LENGTH,
    CloudEvent,
    attributes_of,
    encode_header,
)
from slm_shared.db import Database

if TYPE_CHECKING:
    from slm_shared.bus.inbox import Consumer


class PermanentError(Exception):
    """A failure that retrying cannot fix: the message goes to the dead letters at once."""


class Identity(NamedTuple):
    """What a dead letter names a message by that is no CloudEvent (an ingest batch): its id, type and tenant."""

    id: str | None
    type: str
    tenant: str | None


# Headers a publisher may send that hold a credential: never kept (a dead letter is read by the tenant's admins).
_CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization"})


# How a body no text column can keep (it holds U+0000) is stored: this marker, then the bytes in base64. No JSON
# starts so, so such a letter replays as unreadable, as its message was (a raw NUL is in no JSON text).
BASE64_BODY = "base64:"


def _fitting(value: str | None, bound: int) -> str | None:
    """A name kept in its column only if it is one (it fits, and holds no U+0000 no column keeps): cut or
    cleaned, it would name some other message."""
    return value if value and len(value) <= bound and "\x00" not in value else None


def _storable_body(data: bytes) -> str:
    """The body as text (a byte that is no UTF-8 replaced), or, if it holds U+0000, `BASE64_BODY` and its bytes."""
    text = data.decode("utf-8", errors="replace")
    return text if "\x00" not in text else BASE64_BODY + base64.b64encode(data).decode("ascii")


def _without_credentials(headers: dict[str, Any]) -> dict[str, Any]:
    """The headers but those holding a credential (`_CREDENTIAL_HEADERS`, in any case)."""
    return {name: value for name, value in headers.items() if name.lower() not in _CREDENTIAL_HEADERS}


async def store_dead_letter(
    db: Database,
    *,
    consumer: str,
    message: Msg,
    stream: str,
    headers: dict[str, Any],
    event: CloudEvent | Identity | None,
    error: str,
    deliveries: int,
) -> None:
    """Keep a message the consumer gives up on, readable or not, for inspection and replay; never its credentials.

    `event`: the message read as a CloudEvent, or what names it when it is none; None for an unreadable or refused
    one (named then by the attributes its `ce-` headers carry, read as `CloudEvent.from_message` reads them). A
    name longer than its column (an id over `EVENT_ID_MAX_LENGTH`, the reason an event was refused) or holding
    U+0000 is left out (stored null: the letter is then listed to no tenant); the headers keep it whole. A subject
    longer than its column (an ingest subject's free tail) is kept cut: its tenant token always fits. A body
    holding U+0000 is kept in base64 (`BASE64_BODY`).
    """
    if event is None:
        attributes = attributes_of(headers)
        named = Identity(attributes.get("id"), attributes.get("type", ""), attributes.get("tenant"))
    else:
        named = Identity(event.id, event.type, event.tenant)
    async with db.session() as session:
        session.add(
            DeadLetter(
                consumer=consumer,
                stream=stream,
                subject=message.subject[:SUBJECT_MAX_LENGTH],  # an ingest subject's tail is free; its tenant fits
                event_id=_fitting(named.id, EVENT_ID_MAX_LENGTH),
                event_type=_fitting(named.type, EVENT_TYPE_MAX_LENGTH),
                tenant=_fitting(named.tenant, TENANT_MAX_LENGTH),
                headers=_without_credentials(headers),
                body=_storable_body(message.data),
                error=error[:4000].replace("\x00", "\\x00"),  # a reason may quote a value holding it
                deliveries=deliveries,
            )
        )


async def already_applied(db: Database, consumer: str, event_id: str) -> bool:
    """Whether the consumer's inbox holds the event (a concurrent replica may have applied it first)."""
    async with db.sessionmaker() as session:
        found = await session.scalar(
            select(col(InboxMessage.id)).where(
                col(InboxMessage.consumer) == consumer, col(InboxMessage.event_id) == event_id
            )
        )
    return found is not None


async def replay(consumer: Consumer, letter: DeadLetter) -> None:
    """Apply a dead letter's event again (once: an event already applied changes nothing).

    A letter kept before a received event had to name its id (headers without `ce-id`) is named by the id kept
    with it, as it was applied then."""
    headers = dict(letter.headers)
    if "id" not in attributes_of(headers) and letter.event_id:
        headers["ce-id"] = encode_header(letter.event_id)
    event = CloudEvent.from_message(headers, letter.body.encode())
    handler = consumer.handlers.get(event.type)
    if handler is None:
        raise PermanentError(f"no handler for {event.type}")
    await consumer.apply(event, handler)
