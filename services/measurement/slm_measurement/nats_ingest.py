"""High-volume ingestion from NATS: a durable pull consumer on the SLM_INGEST work-queue stream.

Publish a batch (the same JSON array, NDJSON or columnar body as `POST /v1/measurements`) to
`slm.ingest.<tenant>` or `slm.ingest.<tenant>.<anything>`, optionally with headers
`Content-Type: application/x-ndjson` and a batch id, `Slm-Batch-Id` (de-duplicated per tenant
only) or `Nats-Msg-Id` (which JetStream also de-duplicates across the stream for 100 ms).
Ticket lifecycle events (the JSON array of `POST /v1/tickets/events`) go to
`slm.ingest.<tenant>.tickets`.

The tenant is the subject's third token. It is authorized when the message is published: NATS lets
an ingest publisher's credentials publish to its own tenant's subjects only, so a queued batch
stays valid however long it waits (no bearer token travels with it). A message is applied once per
tenant: its id (or stream sequence) is recorded with the data it stored, keyed by tenant, so a
redelivery changes nothing and one tenant's id never suppresses another's batch. A batch that is
refused goes to the dead letters with its tenant and the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta

from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig
from nats.js.errors import BadRequestError
from sqlalchemy import select
from sqlmodel import col

from slm_measurement import catalog_keys, service
from slm_measurement.config import Settings
from slm_measurement.ingest import decode_batch
from slm_measurement.tickets import service as ticket_service
from slm_measurement.tickets.router import decode_events
from slm_measurement.tickets.worker import rules_of
from slm_shared.app import ServiceContext
from slm_shared.bus import DeadLetter, InboxMessage
from slm_shared.bus.auth import valid_subject_token
from slm_shared.bus.dead_letters import Identity, store_dead_letter
from slm_shared.bus.fetch import Fetcher, unsubscribe_quietly
from slm_shared.contracts.envelope import EVENT_ID_MAX_LENGTH
from slm_shared.contracts.registry import STREAMS
from slm_shared.db import Database
from slm_shared.errors import ProblemError, Unprocessable, describe
from slm_shared.tasks import checkpoint, pause

logger = logging.getLogger(__name__)

CONSUMER = "measurement-ingest"
NDJSON = "application/x-ndjson"
TICKETS = "tickets"


def tenant_of(subject: str) -> str | None:
    """The tenant an ingest subject names (`slm.ingest.<tenant>[.…]`), or None."""
    parts = subject.split(".")
    if len(parts) < 3 or parts[:2] != ["slm", "ingest"] or not valid_subject_token(parts[2]):
        return None
    return parts[2]


def is_tickets(subject: str) -> bool:
    parts = subject.split(".")
    return len(parts) == 4 and parts[3] == TICKETS


def batch_id(headers: dict[str, str]) -> str | None:
    """The id a publisher gave a batch."""
    return headers.get("Slm-Batch-Id") or headers.get("Nats-Msg-Id") or None


def inbox_key(tenant: str, message_id: str) -> str:
    """The inbox id of a message: its id within its tenant, hashed when longer than the inbox keeps."""
    key = f"{tenant}/{message_id}"
    hashed = "sha256:"
    if len(key) <= EVENT_ID_MAX_LENGTH:
        return key
    return hashed + hashlib.sha256(key.encode()).hexdigest()[: EVENT_ID_MAX_LENGTH - len(hashed)]


class NatsIngestor:
    """Applies ingest messages: the tenant from the subject, decode, store once per tenant, acknowledge."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.limits = service.IngestLimits(
            max_lateness=timedelta(seconds=settings.max_lateness_seconds),
            max_future=timedelta(seconds=settings.max_future_seconds),
        )
        self.ticket_rules = rules_of(settings)
        self.unknown_series = settings.unknown_series
        self.applied = 0

    @staticmethod
    def message_id(message: Msg) -> str:
        """The publisher's batch id (Slm-Batch-Id, else Nats-Msg-Id), else the stream sequence."""
        return batch_id(message.headers or {}) or f"seq:{message.metadata.sequence.stream}"

    async def handle(self, message: Msg) -> None:
        """Apply one message and acknowledge it; a refused batch becomes a dead letter."""
        headers = dict(message.headers or {})
        try:
            await self.apply(message.subject, headers, message.data, self.message_id(message))
        except ProblemError as exc:
            logger.warning("ingest message refused: %s", exc.detail)
            await self._dead_letter(message, headers, describe(exc))
        await message.ack()

    async def apply(self, subject: str, headers: dict[str, str], data: bytes, message_id: str) -> bool:
        """Store the batch once for the subject's tenant; False if this tenant's message id was already applied."""
        tenant = tenant_of(subject)
        if tenant is None:
            raise Unprocessable(f"The subject {subject!r} names no tenant (slm.ingest.<tenant>[.<anything>])")
        tickets = is_tickets(subject)
        if tickets:
            ticket_batch = decode_events(data)
        else:
            batch = decode_batch(data, ndjson=headers.get("Content-Type", "").startswith(NDJSON))
        key = inbox_key(tenant, message_id)
        async with self.db.session() as session:
            seen = await session.scalar(
                select(col(InboxMessage.id)).where(
                    col(InboxMessage.consumer) == CONSUMER, col(InboxMessage.event_id) == key
                )
            )
            if seen is not None:
                return False
            session.add(InboxMessage(consumer=CONSUMER, event_id=key, event_type="measurement.batch", tenant=tenant))
            await session.flush()
            if tickets:
                await ticket_service.ingest_events(session, tenant=tenant, batch=ticket_batch, rules=self.ticket_rules)
            else:
                _, force = await catalog_keys.check_batch_in_force(
                    session, tenant=tenant, batch=batch, mode=self.unknown_series
                )
                await service.ingest_batch(session, tenant=tenant, batch=batch, limits=self.limits, force=force)
        self.applied += 1
        return True

    async def replay(self, letter: DeadLetter) -> None:
        """Apply a dead-lettered batch again (once: a batch already applied changes nothing)."""
        headers = {k: str(v) for k, v in letter.headers.items()}
        message_id = batch_id(headers) or letter.event_id or f"dead:{letter.id}"
        await self.apply(letter.subject, headers, letter.body.encode(), message_id)

    async def retry_or_give_up(self, message: Msg, exc: Exception, *, max_deliveries: int) -> None:
        """Redeliver a batch that failed for a reason other than its content; past the bound, a dead letter."""
        deliveries = message.metadata.num_delivered or 1
        if deliveries < max_deliveries:
            logger.warning("ingest message failed (%s); redelivery %d of %d in 2s", exc, deliveries, max_deliveries)
            await message.nak(delay=2.0)
            return
        logger.error("ingest message failed %d times (%s); kept as a dead letter", deliveries, exc)
        await self._dead_letter(message, dict(message.headers or {}), f"failed {deliveries} times: {describe(exc)}")
        await message.ack()

    async def give_up(self, message: Msg) -> None:
        """Keep a batch whose earlier deliveries never got an answer (crash or timeout) as a dead letter."""
        deliveries = message.metadata.num_delivered or 1
        error = f"delivered {deliveries} times without an acknowledgement (crash or timeout)"
        await self._dead_letter(message, dict(message.headers or {}), error)
        await message.ack()

    async def _dead_letter(self, message: Msg, headers: dict[str, str], error: str) -> None:
        await store_dead_letter(
            self.db,
            consumer=CONSUMER,
            message=message,
            stream=STREAMS["ingest"].name,
            headers=headers,
            event=Identity(self.message_id(message), "measurement.batch", tenant_of(message.subject)),
            error=error,
            deliveries=message.metadata.num_delivered or 1,
        )


def replayer(context: ServiceContext) -> Callable[[DeadLetter], Awaitable[None]]:
    """What applies this consumer's dead letters again, in any process of the service (API or worker)."""
    settings = context.settings
    assert isinstance(settings, Settings)
    return NatsIngestor(context.db, settings).replay


async def nats_ingest_worker(context: ServiceContext) -> None:
    """Consume the ingest work queue until cancelled, surviving NATS and database outages."""
    settings = context.settings
    assert isinstance(settings, Settings)
    if not settings.nats_ingest:
        return
    ingestor = NatsIngestor(context.db, settings)
    context.extras["nats_ingestor"] = ingestor
    stream = STREAMS["ingest"]
    await context.bus.connected.wait()
    subscription = None
    fetcher: Fetcher | None = None
    try:
        while True:
            checkpoint()
            try:
                if subscription is None:
                    await context.bus.ensure_streams([stream])
                    config = ConsumerConfig(
                        durable_name=CONSUMER,
                        ack_policy=AckPolicy.EXPLICIT,
                        ack_wait=60,
                        max_ack_pending=1000,
                        max_deliver=settings.consumer_max_deliveries + 1,  # the last one only records a dead letter
                    )
                    with contextlib.suppress(BadRequestError):
                        await context.bus.js.add_consumer(stream.name, config)
                    subscription = await context.bus.js.pull_subscribe_bind(CONSUMER, stream=stream.name)
                    fetcher = Fetcher(subscription, settings.nats_ingest_batch, reconnected=context.bus.next_reconnect)
                assert fetcher is not None
                try:
                    messages = await fetcher.fetch()
                except TimeoutError:  # nats-py raises its own subclass or the plain one
                    continue
                for message in messages:
                    checkpoint()  # an unhandled message is redelivered after ack_wait
                    try:
                        if (message.metadata.num_delivered or 1) > settings.consumer_max_deliveries:
                            await ingestor.give_up(message)
                            continue
                        await ingestor.handle(message)
                    except Exception as exc:  # noqa: BLE001 - retried, then a dead letter
                        checkpoint()
                        await ingestor.retry_or_give_up(message, exc, max_deliveries=settings.consumer_max_deliveries)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - keep consuming across outages
                checkpoint()
                logger.warning("ingest consumer: %s; retrying", exc)
                subscription = None
                await pause(1.0)
    finally:
        if subscription is not None:
            await unsubscribe_quietly(subscription)
