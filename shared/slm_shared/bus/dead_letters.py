"""Dead letters of the idempotent inbox: a message that kept failing is kept, and replayed on request."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

from nats.aio.msg import Msg
from sqlalchemy import select
from sqlmodel import col

from slm_shared.bus.models import SUBJECT_MAX_LENGTH, DeadLetter, InboxMessage
from slm_shared.contracts.envelope import EVENT_ID_MAX_LENGTH, EVENT_TYPE_MAX_LENGTH, TENANT_MAX_LENGTH, CloudEvent
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


def _fitting(value: str | None, bound: int) -> str | None:
    """A name kept in its column only if it is one (it fits): cut, it would name some other message."""
    return value if value and len(value) <= bound else None


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

    `event`: the message read as a CloudEvent, or what names it when it is none; None for an unreadable one
    (named by its `ce-` headers then). A name longer than its column (an id over `EVENT_ID_MAX_LENGTH`, the
    reason an event was refused) is left out: the headers keep it whole. A subject longer than its column (an
    ingest subject's free tail) is kept cut: its tenant token always fits.
    """
    if event is None:
        named = Identity(headers.get("ce-id"), headers.get("ce-type", ""), headers.get("ce-tenant"))
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
                body=message.data.decode("utf-8", errors="replace"),
                error=error[:4000],
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
    """Apply a dead letter's event again (once: an event already applied changes nothing)."""
    event = CloudEvent.from_message(letter.headers, letter.body.encode())
    handler = consumer.handlers.get(event.type)
    if handler is None:
        raise PermanentError(f"no handler for {event.type}")
    await consumer.apply(event, handler)
