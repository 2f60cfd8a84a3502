"""Dead letters of the idempotent inbox: a message that kept failing is kept, and replayed on request."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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


async def store_dead_letter(
    db: Database,
    *,
    consumer: str,
    message: Msg,
    stream: str,
    headers: dict[str, Any],
    event: CloudEvent | None,
    error: str,
    deliveries: int,
) -> None:
    """Keep a message the consumer gives up on, readable or not, for inspection and replay."""
    async with db.session() as session:
        session.add(
            DeadLetter(
                consumer=consumer,
                stream=stream,
                subject=message.subject,
                event_id=event.id if event else headers.get("ce-id"),
                event_type=event.type if event else headers.get("ce-type"),
                tenant=event.tenant if event else headers.get("ce-tenant"),
                headers=headers,
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
