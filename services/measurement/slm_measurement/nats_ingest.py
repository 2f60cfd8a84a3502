"""High-volume ingestion from NATS: a durable pull consumer on the SLM_INGEST work-queue stream.

Publish a batch (the same JSON array, NDJSON or columnar body as `POST /v1/measurements`) to
`slm.ingest.<anything>` with headers `Authorization: Bearer <ingest token>`, optionally
`Content-Type: application/x-ndjson` and `Nats-Msg-Id`. The tenant comes from the verified token.
A message is applied once: its id (or stream sequence) is recorded with the data it stored, so a
redelivery changes nothing. A batch that is refused goes to the dead letters with the reason.
Ticket lifecycle events (the JSON array of `POST /v1/tickets/events`) go to `slm.ingest.tickets`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from datetime import timedelta

from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig
from nats.js.errors import BadRequestError
from sqlalchemy import select

from slm_measurement import catalog_keys, service
from slm_measurement.config import Settings
from slm_measurement.ingest import decode_batch
from slm_measurement.tickets import service as ticket_service
from slm_measurement.tickets.router import decode_events
from slm_measurement.tickets.worker import rules_of
from slm_shared.app import ServiceContext
from slm_shared.auth import ADMIN, INGEST, TokenVerifier
from slm_shared.bus import DeadLetter, InboxMessage
from slm_shared.bus.fetch import Fetcher
from slm_shared.bus.inbox import unsubscribe_quietly
from slm_shared.contracts.registry import STREAMS
from slm_shared.db import Database
from slm_shared.errors import Forbidden, ProblemError, Unauthorized
from slm_shared.tasks import checkpoint, pause

logger = logging.getLogger(__name__)

CONSUMER = "measurement-ingest"
NDJSON = "application/x-ndjson"
TICKETS_SUBJECT = "slm.ingest.tickets"


class NatsIngestor:
    """Applies ingest messages: verify the token, decode, store once, acknowledge."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.verifier = TokenVerifier(
            secret=settings.jwt_secret,
            jwks_url=settings.jwks_url,
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
        )
        self.limits = service.IngestLimits(
            max_lateness=timedelta(seconds=settings.max_lateness_seconds),
            max_future=timedelta(seconds=settings.max_future_seconds),
        )
        self.ticket_rules = rules_of(settings)
        self.unknown_series = settings.unknown_series
        self.applied = 0

    @staticmethod
    def message_id(message: Msg) -> str:
        """The publisher's Nats-Msg-Id (hashed when long), else the stream sequence."""
        given = (message.headers or {}).get("Nats-Msg-Id")
        if given:
            return given if len(given) <= 64 else hashlib.sha256(given.encode()).hexdigest()
        return f"seq:{message.metadata.sequence.stream}"

    async def handle(self, message: Msg) -> None:
        """Apply one message and acknowledge it; a refused batch becomes a dead letter."""
        headers = dict(message.headers or {})
        try:
            await self.apply(message, headers)
        except ProblemError as exc:
            logger.warning("ingest message refused: %s", exc.detail)
            await self._dead_letter(message, headers, f"{exc.status} {exc.detail}")
        await message.ack()

    async def apply(self, message: Msg, headers: dict[str, str]) -> bool:
        """Store the batch once; False if this message id was already applied."""
        token = headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not token:
            raise Unauthorized("An ingest message needs an Authorization header with a bearer token")
        principal = await self.verifier.verify(token)
        if not principal.has_any(ADMIN, INGEST):
            raise Forbidden("The token may not write measurements")
        tickets = message.subject == TICKETS_SUBJECT
        if tickets:
            ticket_batch = decode_events(message.data)
        else:
            batch = decode_batch(message.data, ndjson=headers.get("Content-Type", "").startswith(NDJSON))
        message_id = self.message_id(message)
        async with self.db.session() as session:
            seen = await session.scalar(
                select(InboxMessage.id).where(InboxMessage.consumer == CONSUMER, InboxMessage.event_id == message_id)  # type: ignore[arg-type]
            )
            if seen is not None:
                return False
            session.add(
                InboxMessage(
                    consumer=CONSUMER, event_id=message_id, event_type="measurement.batch", tenant=principal.tenant
                )
            )
            await session.flush()
            if tickets:
                await ticket_service.ingest_events(
                    session, tenant=principal.tenant, batch=ticket_batch, rules=self.ticket_rules
                )
            else:
                await catalog_keys.check_batch(session, tenant=principal.tenant, batch=batch, mode=self.unknown_series)
                await service.ingest_batch(session, tenant=principal.tenant, batch=batch, limits=self.limits)
        self.applied += 1
        return True

    async def retry_or_give_up(self, message: Msg, exc: Exception, *, max_deliveries: int) -> None:
        """Redeliver a batch that failed for a reason other than its content; past the bound, a dead letter."""
        deliveries = message.metadata.num_delivered or 1
        if deliveries < max_deliveries:
            logger.warning("ingest message failed (%s); redelivery %d of %d in 2s", exc, deliveries, max_deliveries)
            await message.nak(delay=2.0)
            return
        logger.error("ingest message failed %d times (%s); kept as a dead letter", deliveries, exc)
        await self._dead_letter(message, dict(message.headers or {}), f"failed {deliveries} times: {exc!r}")
        await message.ack()

    async def _dead_letter(self, message: Msg, headers: dict[str, str], error: str) -> None:
        safe_headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
        async with self.db.session() as session:
            session.add(
                DeadLetter(
                    consumer=CONSUMER,
                    stream=STREAMS["ingest"].name,
                    subject=message.subject,
                    event_id=self.message_id(message),
                    event_type="measurement.batch",
                    headers=safe_headers,
                    body=message.data[:100_000].decode("utf-8", errors="replace"),
                    error=error[:4000],
                    deliveries=message.metadata.num_delivered or 1,
                )
            )


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
                        durable_name=CONSUMER, ack_policy=AckPolicy.EXPLICIT, ack_wait=60, max_ack_pending=1000
                    )
                    with contextlib.suppress(BadRequestError):
                        await context.bus.js.add_consumer(stream.name, config)
                    subscription = await context.bus.js.pull_subscribe_bind(CONSUMER, stream=stream.name)
                    fetcher = Fetcher(subscription, settings.nats_ingest_batch)
                assert fetcher is not None
                try:
                    messages = await fetcher.fetch()
                except TimeoutError:  # nats-py raises its own subclass or the plain one
                    continue
                for message in messages:
                    checkpoint()  # an unhandled message is redelivered after ack_wait
                    try:
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
