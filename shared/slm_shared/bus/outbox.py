"""Transactional outbox: events written with the change, published after commit."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import datetime
from typing import Any

from opentelemetry import propagate
from pydantic import BaseModel
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from slm_shared.bus.connection import Bus
from slm_shared.bus.models import OutboxMessage
from slm_shared.contracts.envelope import CloudEvent, EventSpec
from slm_shared.db import Database, is_postgres, utcnow
from slm_shared.tasks import checkpoint, pause, wait_for_event

logger = logging.getLogger(__name__)

PENDING_FLAG = "slm_outbox_pending"
_COLUMNS = (
    col(OutboxMessage.seq),
    col(OutboxMessage.event_id),
    col(OutboxMessage.subject),
    col(OutboxMessage.headers),
    col(OutboxMessage.body),
)


def record_event(
    session: AsyncSession,
    spec: EventSpec[Any],
    *,
    tenant: str,
    data: BaseModel,
    subject: str | None = None,
) -> CloudEvent:
    """Add an event to the outbox inside the caller's transaction; it is sent after commit."""
    event = spec.build(tenant=tenant, data=data, subject=subject)
    headers = event.headers()
    propagate.inject(headers)
    session.add(
        OutboxMessage(
            event_id=event.id,
            tenant=tenant,
            subject=spec.subject,
            type=event.type,
            headers=headers,
            body=json.dumps(event.data, separators=(",", ":")),
        )
    )
    session.info[PENDING_FLAG] = True
    return event


class OutboxRelay:
    """Publishes unsent outbox rows with `Nats-Msg-Id` = event id; marks them sent on ack."""

    def __init__(
        self,
        db: Database,
        bus: Bus,
        *,
        batch_size: int = 200,
        poll_seconds: float = 1.0,
        publish_timeout: float = 3.0,
        max_backoff: float = 10.0,
        max_attempts: int = 20,
    ) -> None:
        self.db = db
        self.bus = bus
        self.batch_size = batch_size
        self.poll_seconds = poll_seconds
        self.publish_timeout = publish_timeout
        self.max_backoff = max_backoff
        self.max_attempts = max_attempts
        self._wake = asyncio.Event()
        self.published = 0
        self.given_up = 0
        db.after_commit.append(self._after_commit)

    def _after_commit(self, session: AsyncSession) -> None:
        if session.info.pop(PENDING_FLAG, False):
            self._wake.set()

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Relay forever: publish what is pending, back off on failure, sleep until woken."""
        backoff = 0.0
        await self.bus.connected.wait()
        while True:
            checkpoint()
            # Cleared before reading, so a commit during this round wakes the next one at once.
            self._wake.clear()
            try:
                sent = await self.relay_once()
                backoff = 0.0
                if sent >= self.batch_size:
                    continue
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - a relay must outlive any single failure
                checkpoint()
                backoff = min(max(backoff * 2, 0.25), self.max_backoff)
                logger.warning("outbox relay failed (%s); retrying in %.2fs", exc, backoff)
                await pause(backoff)
                continue
            await wait_for_event(self._wake, self.poll_seconds)

    async def relay_once(self) -> int:
        """Publish one batch of pending rows; returns how many were acknowledged."""
        if is_postgres(self.db.engine):
            return await self._relay_locked()
        return await self._relay_unlocked()

    async def _relay_locked(self) -> int:
        # PostgreSQL: rows stay locked (SKIP LOCKED) while published, so replicas share the work.
        async with self.db.session() as session:
            rows = (
                await session.execute(
                    select(*_COLUMNS)
                    .where(col(OutboxMessage.sent_at).is_(None), col(OutboxMessage.failed_at).is_(None))
                    .order_by(col(OutboxMessage.seq))
                    .limit(self.batch_size)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            acked, error = await self._publish(rows)
            await self._mark(session, rows, acked, error, sent_at=utcnow())
        if error:
            raise error
        return len(acked)

    async def _relay_unlocked(self) -> int:
        # SQLite: one writer at a time, so read without the write lock and never hold it across network calls.
        async with self.db.read_sessionmaker() as session:
            rows = (
                await session.execute(
                    select(*_COLUMNS)
                    .where(col(OutboxMessage.sent_at).is_(None), col(OutboxMessage.failed_at).is_(None))
                    .order_by(col(OutboxMessage.seq))
                    .limit(self.batch_size)
                )
            ).all()
            await session.rollback()
        if not rows:
            return 0
        acked, error = await self._publish(rows)
        sent_at = utcnow()  # when they were acknowledged, not when the write lock came
        async with self.db.session() as session:
            await self._mark(session, rows, acked, error, sent_at=sent_at)
        if error:
            raise error
        return len(acked)

    async def _publish(self, rows: Any) -> tuple[list[int], Exception | None]:
        """Publish rows pipelined; returns the acknowledged seqs, in order, and the first error."""
        if not rows:
            return [], None
        js = self.bus.js
        results = await asyncio.gather(
            *(
                js.publish(
                    row.subject,
                    row.body.encode(),
                    timeout=self.publish_timeout,
                    headers={**row.headers, "Nats-Msg-Id": row.event_id},
                )
                for row in rows
            ),
            return_exceptions=True,
        )
        acked: list[int] = []
        error: Exception | None = None
        for row, result in zip(rows, results, strict=True):
            if isinstance(result, BaseException):
                error = error or Exception(f"{type(result).__name__}: {result}")
            else:
                acked.append(row.seq)
        self.published += len(acked)
        return acked, error

    async def _mark(
        self, session: AsyncSession, rows: Any, acked: list[int], error: Exception | None, *, sent_at: datetime
    ) -> None:
        if acked:
            await session.execute(
                update(OutboxMessage)
                .where(col(OutboxMessage.seq).in_(acked))
                .values(sent_at=sent_at, attempts=OutboxMessage.attempts + 1)
            )
        sent = set(acked)
        failed = [row.seq for row in rows if row.seq not in sent]
        if not (failed and error):
            return
        reason = str(error)[:2000]
        if not self.bus.is_connected:  # an outage is nobody's row's fault: it does not count as an attempt
            await session.execute(
                update(OutboxMessage).where(col(OutboxMessage.seq).in_(failed)).values(last_error=reason)
            )
            return
        await session.execute(
            update(OutboxMessage)
            .where(col(OutboxMessage.seq).in_(failed))
            .values(attempts=OutboxMessage.attempts + 1, last_error=reason)
        )
        given_up = await session.execute(
            update(OutboxMessage)
            .where(col(OutboxMessage.seq).in_(failed), col(OutboxMessage.attempts) >= self.max_attempts)
            .values(failed_at=utcnow())
            .returning(col(OutboxMessage.seq), col(OutboxMessage.event_id))
        )
        for seq, event_id in given_up.all():
            self.given_up += 1
            logger.error(
                "outbox gave up on row %s (event %s) after %d attempts: %s", seq, event_id, self.max_attempts, reason
            )
