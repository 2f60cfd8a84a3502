"""Dead letters of the idempotent inbox: a message that kept failing is kept, and replayed on request."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

from nats.aio.msg import Msg
from sqlalchemy import select
from sqlmodel import col

from slm_shared.bus.models import DeadLetter, InboxMessage
from slm_shared.contracts.envelope import CloudEvent
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
    (named by its `ce-` headers then).
    """
    event_id = event.id if event is not None else headers.get("ce-id")
    async with db.session() as session:
        session.add(
            DeadLetter(
                consumer=consumer,
                stream=stream,
                subject=message.subject,
                event_id=event_id[:64] if event_id else None,
                event_type=event.type if event is not None else headers.get("ce-type"),
                tenant=event.tenant if event is not None else headers.get("ce-tenant"),
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
