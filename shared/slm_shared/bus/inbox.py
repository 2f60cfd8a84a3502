"""Idempotent inbox: durable pull consumers that apply each event once, or dead-letter it (`dead_letters`)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import cast

import nats.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import BadRequestError
from opentelemetry import propagate, trace
from sqlalchemy import Table, bindparam, insert, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from slm_shared.bus.connection import Bus
from slm_shared.bus.dead_letters import PermanentError, already_applied, store_dead_letter
from slm_shared.bus.fetch import Fetcher, unsubscribe_quietly
from slm_shared.bus.models import InboxMessage
from slm_shared.contracts.envelope import CloudEvent
from slm_shared.contracts.registry import STREAMS, spec_for_type
from slm_shared.db import Database, UTCDateTime, utcnow
from slm_shared.errors import describe
from slm_shared.tasks import checkpoint, pause, stop_tasks

logger = logging.getLogger(__name__)
tracer = trace.get_tracer("slm.bus")

INBOX = cast(Table, InboxMessage.__table__)  # type: ignore[attr-defined]

Handler = Callable[[AsyncSession, CloudEvent], Awaitable[None]]

# Written out so it is compiled once (a dialect's ON CONFLICT is compiled on every execution); the
# same text on SQLite and PostgreSQL.
RECORD_ONCE = text(
    "INSERT INTO inbox (consumer, event_id, event_type, tenant, processed_at) "
    "VALUES (:consumer, :event_id, :event_type, :tenant, :processed_at) "
    "ON CONFLICT (consumer, event_id) DO NOTHING RETURNING id"
).bindparams(bindparam("processed_at", type_=UTCDateTime))


class _EventFailed(Exception):
    """One event's handler failed inside a batch: the batch is rolled back and runs without it."""

    def __init__(self, message: Msg) -> None:
        super().__init__("an event of the batch failed")
        self.message = message


class Consumer:
    """Applies events of the registered types through a durable consumer per producer stream."""

    def __init__(
        self,
        db: Database,
        bus: Bus,
        *,
        name: str,
        handlers: Mapping[str, Handler],
        max_deliveries: int = 5,
        retry_delay: float = 1.0,
        batch_size: int = 50,
        ack_wait: float = 30.0,
        urgent: bool = False,
        waited_on: Collection[str] = (),
    ) -> None:
        self.db = db
        self.bus = bus
        self.name = name
        self.handlers = dict(handlers)
        self.max_deliveries = max_deliveries
        self.retry_delay = retry_delay
        self.batch_size = batch_size
        self.ack_wait = ack_wait
        # on SQLite, an event fetched on its own, and a batch's part ending with its first waited-on event, are
        # applied in the writer turn ahead of queued background writers (`Database.session`); the rest of a batch
        # (in it, or on their own after it failed) and replayed dead letters wait their turn, so a backlog does
        # not hold back the writers feeding on it
        self.urgent = urgent
        # event types someone waits on (a breach's notification): a batch commits just after the first of them
        # (`_parts`), so what it caused (a delivery sent at commit) is not held back by the events after it
        self.waited_on = frozenset(waited_on)
        unhandled = sorted(self.waited_on - self.handlers.keys())
        if unhandled:
            raise ValueError(f"waited-on event types without a handler: {', '.join(unhandled)}")
        self.applied = 0

    def subscriptions(self) -> dict[str, list[str]]:
        """Stream name to the subjects this consumer reads from it."""
        by_stream: dict[str, list[str]] = defaultdict(list)
        for event_type in self.handlers:
            spec = spec_for_type(event_type)
            if spec is None:
                raise ValueError(f"unknown event type {event_type!r}")
            stream = STREAMS[spec.producer].name
            if spec.subject not in by_stream[stream]:
                by_stream[stream].append(spec.subject)
        return dict(by_stream)

    async def run(self) -> None:
        """Consume from every stream until cancelled; each stream's loop ends with it."""
        loops = [
            asyncio.create_task(self.consume(stream, subjects), name=f"{self.name}-consumer-{stream}")
            for stream, subjects in self.subscriptions().items()
        ]
        try:
            await asyncio.wait(loops)
        finally:
            await stop_tasks(loops, grace_seconds=2.0)

    async def _ensure_consumer(self, stream: str, subjects: list[str]) -> None:
        config = ConsumerConfig(
            durable_name=self.name,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=self.ack_wait,
            # Our bound dead-letters a message that failed max_deliveries times; the server's, one
            # more, ends a message that never got an answer (a handler that crashes or hangs).
            max_deliver=self.max_deliveries + 1,
            max_ack_pending=1000,
            filter_subjects=subjects,
        )
        try:
            await self.bus.js.add_consumer(stream, config)
        except BadRequestError as exc:
            logger.warning("consumer %s on %s kept its configuration: %s", self.name, stream, exc)

    async def consume(self, stream: str, subjects: list[str]) -> None:
        """Consume one stream until cancelled, surviving NATS and database outages."""
        await self.bus.connected.wait()
        subscription: JetStreamContext.PullSubscription | None = None
        fetcher: Fetcher | None = None
        try:
            while True:
                checkpoint()
                try:
                    if subscription is None:
                        await self.bus.ensure_platform_streams()
                        await self._ensure_consumer(stream, subjects)
                        subscription = await self.bus.js.pull_subscribe_bind(self.name, stream=stream)
                        fetcher = Fetcher(subscription, self.batch_size)
                    assert fetcher is not None
                    try:
                        messages = await fetcher.fetch()
                    except TimeoutError:  # nats-py raises its own subclass or the plain one
                        continue
                    await self.handle_batch(messages, stream)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - keep consuming across outages
                    checkpoint()
                    logger.warning("consumer %s on %s: %s; retrying", self.name, stream, exc)
                    if isinstance(exc, nats.errors.Error | nats.js.errors.Error):
                        subscription = None
                    await pause(1.0)
        finally:
            if subscription is not None:
                await unsubscribe_quietly(subscription)

    async def handle_batch(self, messages: list[Msg], stream: str) -> None:
        """Apply a fetched batch, one transaction per part (`_parts`), acknowledging each part once committed.

        A message fetched on its own, and the part ending with the batch's first waited-on event, are urgent
        (applied as urgent writers when the consumer is `urgent`): someone waits on what they cause, and a
        batch takes at most one urgent turn, so a backlog still leaves the writers working it off their turns
        (`Database.session`; a part that fails and is applied again, isolated, takes it again). The part after
        it, and any event applied on its own after its part failed, wait their turn.
        """
        if len(messages) < 2:
            for message in messages:
                checkpoint()  # an unhandled message is redelivered after ack_wait
                await self.handle_message(message, stream, urgent=True)  # fetched on its own
            return
        for part, urgent in self._parts(messages):
            checkpoint()
            if len(part) < 2:
                await self.handle_message(part[0], stream, urgent=urgent)
            else:
                await self._handle_together(part, stream, urgent=urgent)

    def _parts(self, messages: list[Msg]) -> list[tuple[list[Msg], bool]]:
        """The batch, cut once just after its first event of a type someone waits on (`waited_on`), in order:
        (messages, whether they end with that event).

        One cut, not one after each: a batch of many (a breach storm, a catch-up after downtime) then takes two
        transactions rather than one per waited-on event (a transaction each made such a batch several times
        slower to apply, so its later events went out later than in one transaction). The first waited-on event
        goes out sooner than in one transaction; the ones after it, with the rest of the batch, as they did then.
        """
        for index, message in enumerate(messages):
            if (message.headers or {}).get("ce-type") in self.waited_on:
                rest = messages[index + 1 :]
                return [(messages[: index + 1], True), (rest, False)] if rest else [(messages, True)]
        return [(messages, False)]

    async def _handle_together(self, messages: list[Msg], stream: str, *, urgent: bool) -> None:
        """Apply messages in one transaction (`urgent`: see `handle_batch`), then acknowledge them.

        One commit for the batch, and its inbox rows in one statement at the end (a concurrent
        replica's copy fails there on the unique key). No savepoint per fresh event: one whose handler
        fails rolls the batch back, and the batch runs once more with a savepoint per event, where a
        failing event is rolled back alone and goes through `handle_message` on its own, with its
        retries and dead letter. A redelivered event always gets a savepoint. If the batch fails
        otherwise (its commit, its inbox rows), each event goes on its own.
        """
        try:
            try:
                done, alone, applied = await self._apply_batch(messages, isolated=False, urgent=urgent)
            except _EventFailed:
                checkpoint()  # rolled back: once more, each event in a savepoint of its own
                done, alone, applied = await self._apply_batch(messages, isolated=True, urgent=urgent)
        except Exception as exc:  # noqa: BLE001 - nothing was stored: each event on its own
            checkpoint()
            logger.warning("consumer %s: batch of %d not stored (%s); one by one", self.name, len(messages), exc)
            done, alone, applied = [], messages, 0
        self.applied += applied
        for message in done:
            await message.ack()
        for message in alone:
            checkpoint()
            await self.handle_message(message, stream)

    async def _apply_batch(
        self, messages: list[Msg], *, isolated: bool, urgent: bool
    ) -> tuple[list[Msg], list[Msg], int]:
        """One transaction for the batch: (messages done, messages to handle alone, events applied)."""
        done: list[Msg] = []
        alone: list[Msg] = []
        applied: list[CloudEvent] = []
        async with self.db.session(urgent=urgent and self.urgent) as session:
            parsed = [(message, self._readable(message)) for message in messages]
            seen = await self._seen_among(session, [event.id for _, event in parsed if event is not None])
            for message, event in parsed:
                checkpoint()
                outcome = await self._apply_in_batch(session, message, event, seen, isolated=isolated)
                if outcome is None:
                    alone.append(message)
                else:
                    done.append(message)
                    if isinstance(outcome, CloudEvent):
                        applied.append(outcome)
            await self._record_all(session, applied)
        return done, alone, len(applied)

    @staticmethod
    def _readable(message: Msg) -> CloudEvent | None:
        try:
            return CloudEvent.from_message(dict(message.headers or {}), message.data)
        except (ValueError, json.JSONDecodeError):
            return None  # dead-lettered by handle_message

    async def _apply_in_batch(
        self, session: AsyncSession, message: Msg, event: CloudEvent | None, seen: set[str], *, isolated: bool
    ) -> CloudEvent | bool | None:
        """The event if applied, False if nothing to do (seen, or a type this consumer ignores), None to
        handle it alone; a handler's failure propagates and fails the batch."""
        if event is None:
            return None  # dead-lettered by handle_message
        handler = self.handlers.get(event.type)
        if handler is None:
            return False
        if (message.metadata.num_delivered or 1) > self.max_deliveries:
            return None  # past the bound without an answer: dead-lettered by handle_message
        if event.id in seen:
            return False
        context = propagate.extract(dict(message.headers or {}))
        with tracer.start_as_current_span(
            f"consume {event.type}", context=context, kind=trace.SpanKind.CONSUMER
        ) as span:
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

    async def _seen_among(self, session: AsyncSession, event_ids: list[str]) -> set[str]:
        """Which of these events this consumer has applied already (one query for a batch)."""
        if not event_ids:
            return set()
        found = await session.scalars(
            select(col(InboxMessage.event_id)).where(
                col(InboxMessage.consumer) == self.name, col(InboxMessage.event_id).in_(set(event_ids))
            )
        )
        return set(found)

    async def _record_all(self, session: AsyncSession, events: list[CloudEvent]) -> None:
        """The inbox rows of a batch's applied events, in one statement."""
        if events:
            now = utcnow()
            await session.execute(
                insert(INBOX),
                [
                    {
                        "consumer": self.name,
                        "event_id": e.id,
                        "event_type": e.type,
                        "tenant": e.tenant,
                        "processed_at": now,
                    }
                    for e in events
                ],
            )

    async def _record_once(self, session: AsyncSession, event: CloudEvent) -> bool:
        """Write the inbox row at once; False (nothing written) if this consumer has the event already.

        One statement instead of a look-up and an insert. A concurrent replica's copy waits on the
        unique key (PostgreSQL) until the first commits, then finds it there."""
        values = {
            "consumer": self.name,
            "event_id": event.id,
            "event_type": event.type,
            "tenant": event.tenant,
            "processed_at": utcnow(),
        }
        return (await session.execute(RECORD_ONCE, values)).first() is not None

    async def _give_up(self, message: Msg, stream: str, event: CloudEvent | None, error: str) -> None:
        """Keep the message as a dead letter, then acknowledge it: it is not delivered again."""
        await store_dead_letter(
            self.db,
            consumer=self.name,
            message=message,
            stream=stream,
            headers=dict(message.headers or {}),
            event=event,
            error=error,
            deliveries=message.metadata.num_delivered or 1,
        )
        await message.ack()

    async def handle_message(self, message: Msg, stream: str, *, urgent: bool = False) -> None:
        """Apply one message once; nak with backoff on failure; dead-letter past the bound.

        `urgent`: the message was fetched on its own, or is a batch's first waited-on event with nothing before it
        (applied as an urgent writer when the consumer is `urgent`)."""
        deliveries = message.metadata.num_delivered or 1
        headers = dict(message.headers or {})
        try:
            event = CloudEvent.from_message(headers, message.data)
        except (ValueError, json.JSONDecodeError) as exc:
            await self._give_up(message, stream, None, f"unreadable event: {exc}")
            return
        handler = self.handlers.get(event.type)
        if handler is None:
            await message.ack()  # a type (or version) this consumer does not apply
            return
        if deliveries > self.max_deliveries:  # earlier deliveries ended without an answer
            error = f"delivered {deliveries} times without an acknowledgement (crash or timeout)"
            await self._give_up(message, stream, event, error)
            return
        context = propagate.extract(headers)
        with tracer.start_as_current_span(
            f"consume {event.type}", context=context, kind=trace.SpanKind.CONSUMER
        ) as span:
            span.set_attribute("messaging.system", "nats")
            span.set_attribute("messaging.message.id", event.id)
            try:
                await self.apply(event, handler, urgent=urgent)
            except Exception as exc:  # noqa: BLE001 - every failure is retried or dead-lettered
                span.record_exception(exc)
                permanent = isinstance(exc, PermanentError)
                if permanent or deliveries >= self.max_deliveries:
                    logger.error("dead-lettering %s after %d deliveries: %s", event.id, deliveries, exc)
                    await self._give_up(message, stream, event, describe(exc))
                else:
                    delay = self.retry_delay * 2 ** (deliveries - 1)
                    logger.warning("event %s failed (%s); redelivery in %.1fs", event.id, exc, delay)
                    await message.nak(delay=delay)
                return
        await message.ack()

    async def apply(self, event: CloudEvent, handler: Handler, *, urgent: bool = False) -> bool:
        """Run the handler and record the event in one transaction; False if already applied.

        `urgent` (an event fetched on its own, of an `urgent` consumer): on SQLite, in the writer turn ahead of
        the ordinary writers waiting."""
        try:
            async with self.db.session(urgent=urgent and self.urgent) as session:
                if not await self._record_once(session, event):
                    return False
                await handler(session, event)
        except IntegrityError:
            if await already_applied(self.db, self.name, event.id):
                return False  # a concurrent replica applied it first; the unique constraint kept it once
            raise  # the handler's own constraint failed: retry, then dead-letter

        self.applied += 1
        return True
