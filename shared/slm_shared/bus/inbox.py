"""Idempotent inbox: durable pull consumers that apply each event once, or dead-letter it (`dead_letters`)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Collection, Mapping

import nats.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import BadRequestError
from opentelemetry import propagate, trace
from sqlalchemy import bindparam, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from slm_shared.bus import batches
from slm_shared.bus.connection import Bus
from slm_shared.bus.dead_letters import PermanentError, already_applied, store_dead_letter
from slm_shared.bus.fetch import Fetcher, unsubscribe_quietly
from slm_shared.contracts.envelope import (
    EVENT_TYPE_MAX_LENGTH,
    CloudEvent,
    InvalidEvent,
    attributes_of,
    type_refusal,
)
from slm_shared.contracts.registry import STREAMS, spec_for_type
from slm_shared.db import Database, UTCDateTime, utcnow
from slm_shared.errors import describe
from slm_shared.tasks import checkpoint, pause, stop_tasks

logger = logging.getLogger(__name__)
MALFORMED_TYPES_LOGGED = 100  # distinct malformed event types a consumer logs at info; the rest at debug
tracer = trace.get_tracer("slm.bus")

Handler = Callable[[AsyncSession, CloudEvent], Awaitable[None]]

# Written out so it is compiled once (a dialect's ON CONFLICT is compiled on every execution); the
# same text on SQLite and PostgreSQL.
RECORD_ONCE = text(
    "INSERT INTO inbox (consumer, event_id, event_type, tenant, processed_at) "
    "VALUES (:consumer, :event_id, :event_type, :tenant, :processed_at) "
    "ON CONFLICT (consumer, event_id) DO NOTHING RETURNING id"
).bindparams(bindparam("processed_at", type_=UTCDateTime))


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
        self._malformed_logged: set[str] = set()  # malformed types logged at info (`_dropped_malformed`)
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
        # (`batches.parts`), so what it caused (a delivery sent at commit) is not held back by the events after it
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
                        fetcher = Fetcher(subscription, self.batch_size, reconnected=self.bus.next_reconnect)
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
        """Apply a fetched batch, one transaction per part (`batches.parts`), acknowledging each part once committed.

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
        for part, urgent in batches.parts(messages, self.waited_on):
            checkpoint()
            if len(part) < 2:
                await self.handle_message(part[0], stream, urgent=urgent)
            else:
                await batches.handle_together(self, part, stream, urgent=urgent)

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

    def _dropped_malformed(self, named_type: str, why: str, subject: str) -> None:
        """Log a message acknowledged unapplied for a type no event can have (empty, too long, U+0000): no
        consumer applies such a type, so none keeps a dead letter of it. At info the first time this consumer
        meets each such type (at most `MALFORMED_TYPES_LOGGED` of them), at debug after."""
        key = named_type[: EVENT_TYPE_MAX_LENGTH + 1]
        first = key not in self._malformed_logged and len(self._malformed_logged) < MALFORMED_TYPES_LOGGED
        if first:
            self._malformed_logged.add(key)
        logger.log(
            logging.INFO if first else logging.DEBUG,
            "consumer %s acknowledged a message on %s without applying it or keeping a dead letter: its type %s "
            "(%r), so no consumer applies it",
            self.name,
            subject,
            why,
            named_type[:80],
        )

    async def handle_message(self, message: Msg, stream: str, *, urgent: bool = False) -> None:
        """Apply one message once; nak with backoff on failure; dead-letter past the bound.

        `urgent`: the message was fetched on its own, or is a batch's first waited-on event with nothing before it
        (applied as an urgent writer when the consumer is `urgent`)."""
        deliveries = message.metadata.num_delivered or 1
        headers = dict(message.headers or {})
        named_type = attributes_of(headers).get("type")
        if named_type is not None and named_type not in self.handlers:
            await message.ack()  # a type (or version: subjects do not name it) this consumer does not apply
            if (why := type_refusal(named_type)) is not None:
                self._dropped_malformed(named_type, why, message.subject)
            return
        try:
            event = CloudEvent.from_message(headers, message.data)
        except (ValueError, json.JSONDecodeError) as exc:
            # never retried (it reads the same each time): an attribute that breaks the envelope (an id longer than
            # the inbox keeps) or a body that is no JSON object goes to the dead letters at once, and is acknowledged
            reason = str(exc) if isinstance(exc, InvalidEvent) else f"unreadable event: {exc}"
            logger.warning(  # its reason names the attributes, never their values nor the body
                "consumer %s refused a message on %s (delivery %d), kept as a dead letter: %s",
                self.name,
                message.subject,
                deliveries,
                reason,
            )
            await self._give_up(message, stream, None, reason)
            return
        handler = self.handlers[event.type]
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
