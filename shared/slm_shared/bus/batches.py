"""A fetched batch of events applied together: cut after its first waited-on event, one transaction per part."""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, cast

from nats.aio.msg import Msg
from opentelemetry import propagate, trace
from sqlalchemy import Table, insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from slm_shared.bus.models import InboxMessage
from slm_shared.contracts.envelope import CloudEvent
from slm_shared.db import utcnow
from slm_shared.tasks import checkpoint

if TYPE_CHECKING:
    from slm_shared.bus.inbox import Consumer

logger = logging.getLogger(__name__)
tracer = trace.get_tracer("slm.bus")

INBOX = cast(Table, InboxMessage.__table__)  # type: ignore[attr-defined]
TOGETHER = "slm_bus_applied_together"  # session.info: see `applied_together`


def applied_together(session: AsyncSession) -> list[CloudEvent]:
    """The events this transaction applies one after another, in order, with no savepoint among them (a fetched
    batch whose events are all delivered for the first time); empty outside such a batch.

    Each runs its handler or the transaction rolls back, so a handler may read ahead for the ones after it
    (one statement for the batch rather than one per event)."""
    together: list[CloudEvent] = session.info.get(TOGETHER, [])
    return together


class _EventFailed(Exception):
    """One event's handler failed inside a batch: the batch is rolled back and runs without it."""

    def __init__(self, message: Msg) -> None:
        super().__init__("an event of the batch failed")
        self.message = message


def parts(messages: list[Msg], waited_on: frozenset[str]) -> list[tuple[list[Msg], bool]]:
    """The batch, cut once just after its first event of a type someone waits on (`waited_on`), in order:
    (messages, whether they end with that event).

    One cut, not one after each: a batch of many (a breach storm, a catch-up after downtime) then takes two
    transactions rather than one per waited-on event (a transaction each made such a batch several times
    slower to apply, so its later events went out later than in one transaction). The first waited-on event
    goes out sooner than in one transaction; the ones after it, with the rest of the batch, as they did then.
    """
    for index, message in enumerate(messages):
        if (message.headers or {}).get("ce-type") in waited_on:
            rest = messages[index + 1 :]
            return [(messages[: index + 1], True), (rest, False)] if rest else [(messages, True)]
    return [(messages, False)]


async def handle_together(consumer: Consumer, messages: list[Msg], stream: str, *, urgent: bool) -> None:
    """Apply messages in one transaction (`urgent`: see `Consumer.handle_batch`), then acknowledge them.

    One commit for the batch, and its inbox rows in one statement at the end (a concurrent
    replica's copy fails there on the unique key). No savepoint per fresh event: one whose handler
    fails rolls the batch back, and the batch runs once more with a savepoint per event, where a
    failing event is rolled back alone and goes through `handle_message` on its own, with its
    retries and dead letter. A redelivered event always gets a savepoint. If the batch fails
    otherwise (its commit, its inbox rows), each event goes on its own.
    """
    try:
        try:
            done, alone, applied = await _apply_batch(consumer, messages, isolated=False, urgent=urgent)
        except _EventFailed:
            checkpoint()  # rolled back: once more, each event in a savepoint of its own
            done, alone, applied = await _apply_batch(consumer, messages, isolated=True, urgent=urgent)
    except Exception as exc:  # noqa: BLE001 - nothing was stored: each event on its own
        checkpoint()
        logger.warning("consumer %s: batch of %d not stored (%s); one by one", consumer.name, len(messages), exc)
        done, alone, applied = [], messages, 0
    consumer.applied += applied
    for message in done:
        await message.ack()
    for message in alone:
        checkpoint()
        await consumer.handle_message(message, stream)


async def _apply_batch(
    consumer: Consumer, messages: list[Msg], *, isolated: bool, urgent: bool
) -> tuple[list[Msg], list[Msg], int]:
    """One transaction for the batch: (messages done, messages to handle alone, events applied)."""
    done: list[Msg] = []
    alone: list[Msg] = []
    applied: list[CloudEvent] = []
    async with consumer.db.session(urgent=urgent and consumer.urgent) as session:
        parsed = [(message, _readable(message)) for message in messages]
        seen = await _seen_among(session, consumer.name, [event.id for _, event in parsed if event is not None])
        if not isolated:
            session.info[TOGETHER] = _together(consumer, parsed, seen)
        for message, event in parsed:
            checkpoint()
            outcome = await _apply_in_batch(consumer, session, message, event, seen, isolated=isolated)
            if outcome is None:
                alone.append(message)
            else:
                done.append(message)
                if isinstance(outcome, CloudEvent):
                    applied.append(outcome)
        await _record_all(session, consumer.name, applied)
    return done, alone, len(applied)


def _together(consumer: Consumer, parsed: list[tuple[Msg, CloudEvent | None]], seen: set[str]) -> list[CloudEvent]:
    """The events `_apply_in_batch` will hand to their handlers, in order, when none gets a savepoint; else none."""
    if any((message.metadata.num_delivered or 1) > 1 for message, _ in parsed):
        return []  # a redelivered event gets a savepoint, which may roll back what a handler read ahead for
    together: list[CloudEvent] = []
    ids = set(seen)
    for _, event in parsed:
        if event is not None and event.type in consumer.handlers and event.id not in ids:
            ids.add(event.id)
            together.append(event)
    return together


def _readable(message: Msg) -> CloudEvent | None:
    try:
        return CloudEvent.from_message(dict(message.headers or {}), message.data)
    except (ValueError, json.JSONDecodeError):
        return None  # dead-lettered by handle_message


async def _apply_in_batch(
    consumer: Consumer,
    session: AsyncSession,
    message: Msg,
    event: CloudEvent | None,
    seen: set[str],
    *,
    isolated: bool,
) -> CloudEvent | bool | None:
    """The event if applied, False if nothing to do (seen, or a type this consumer ignores), None to
    handle it alone; a handler's failure propagates and fails the batch."""
    if event is None:
        return None  # dead-lettered by handle_message
    handler = consumer.handlers.get(event.type)
    if handler is None:
        return False
    if (message.metadata.num_delivered or 1) > consumer.max_deliveries:
        return None  # past the bound without an answer: dead-lettered by handle_message
    if event.id in seen:
        return False
    context = propagate.extract(dict(message.headers or {}))
    with tracer.start_as_current_span(f"consume {event.type}", context=context, kind=trace.SpanKind.CONSUMER) as span:
        span.set_attribute("messaging.system", "nats")
        span.set_attribute("messaging.message.id", event.id)
        if isolated or (message.metadata.num_delivered or 1) > 1:
            # delivered before, so likely to fail again: a savepoint of its own spares the batch a rerun
            try:
                async with session.begin_nested():
                    await handler(session, event)
            except Exception:  # noqa: BLE001 - rolled back to the savepoint; retried alone
                return None
        else:
            try:
                await handler(session, event)
            except Exception as exc:
                raise _EventFailed(message) from exc
    seen.add(event.id)  # the same event twice in one batch is applied once
    return event


async def _seen_among(session: AsyncSession, consumer: str, event_ids: list[str]) -> set[str]:
    """Which of these events this consumer has applied already (one query for a batch)."""
    if not event_ids:
        return set()
    found = await session.scalars(
        select(col(InboxMessage.event_id)).where(
            col(InboxMessage.consumer) == consumer, col(InboxMessage.event_id).in_(set(event_ids))
        )
    )
    return set(found)


async def _record_all(session: AsyncSession, consumer: str, events: list[CloudEvent]) -> None:
    """The inbox rows of a batch's applied events, in one statement."""
    if events:
        now = utcnow()
        await session.execute(
            insert(INBOX),
            [
                {"consumer": consumer, "event_id": e.id, "event_type": e.type, "tenant": e.tenant, "processed_at": now}
                for e in events
            ],
        )
