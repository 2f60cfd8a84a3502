"""Retention: rows past their use deleted in small batches by a scheduled job in every service.

Every service purges its sent outbox rows, its inbox rows and its idempotency keys; a service adds
its own purges (measurement: minute buckets and closed tickets; notifier: finished deliveries).
Each batch claims its rows with `FOR UPDATE SKIP LOCKED` on PostgreSQL, so replicas running the job
at once share the work instead of waiting on each other, and no row is deleted twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Table, delete, literal_column, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from slm_shared.bus.models import InboxMessage, OutboxMessage
from slm_shared.db import Database, is_postgres, utcnow
from slm_shared.settings import ServiceSettings
from slm_shared.tasks import checkpoint, pause
from slm_shared.web.concurrency import IdempotencyRecord

logger = logging.getLogger(__name__)

OUTBOX: Table = OutboxMessage.__table__  # type: ignore[attr-defined]
INBOX: Table = InboxMessage.__table__  # type: ignore[attr-defined]
IDEMPOTENCY: Table = IdempotencyRecord.__table__  # type: ignore[attr-defined]
# The longest `ack_wait` of a consumer (see `bus.inbox.Consumer`): an unacknowledged message comes back after it.
ACK_WAIT = timedelta(seconds=30)


@dataclass(frozen=True)
class Child:
    """Rows of another table that go with a purged row: its `columns` equal the purged row's `parent` columns."""

    table: Table
    columns: tuple[str, ...]
    parent: tuple[str, ...]


@dataclass(frozen=True)
class Purge:
    """The rows of one table to delete: those matching `where`, oldest first by `order_by`.

    With `children`, each batch's rows are claimed by `key` and their children deleted with them.
    """

    name: str
    table: Table
    where: ColumnElement[bool]
    order_by: Sequence[Any] = ()
    key: tuple[str, ...] = ()
    children: tuple[Child, ...] = ()


Purges = Callable[[AsyncSession, Any, datetime], Awaitable[list[Purge]]]


def _matching(columns: Sequence[Any], rows: Sequence[Sequence[Any]]) -> ColumnElement[bool]:
    if len(columns) == 1:
        return columns[0].in_([row[0] for row in rows])  # type: ignore[no-any-return]
    return tuple_(*columns).in_([tuple(row) for row in rows])


async def _purge_batch(db: Database, target: Purge, *, batch: int, postgres: bool) -> int:
    claim = select(*(target.table.c[name] for name in target.key)).where(target.where)
    claim = claim.order_by(*target.order_by).limit(batch)
    if postgres:
        claim = claim.with_for_update(skip_locked=True)
    async with db.session() as session:
        rows = (await session.execute(claim)).all()
        if not rows:
            return 0
        for child in target.children:
            values = [tuple(row._mapping[name] for name in child.parent) for row in rows]
            await session.execute(
                delete(child.table).where(_matching([child.table.c[name] for name in child.columns], values))
            )
        await session.execute(
            delete(target.table).where(_matching([target.table.c[name] for name in target.key], rows))
        )
    return len(rows)


async def purge(db: Database, target: Purge, *, batch: int) -> int:
    """Delete every row `target` matches, `batch` at a time, each batch claimed and deleted in its own transaction."""
    postgres = is_postgres(db.engine)
    locator: ColumnElement[Any] = literal_column("ctid" if postgres else "rowid")
    deleted = 0
    while True:
        checkpoint()
        if target.children:
            count = await _purge_batch(db, target, batch=batch, postgres=postgres)
        else:
            claim = select(locator).select_from(target.table).where(target.where)
            claim = claim.order_by(*target.order_by).limit(batch)
            if postgres:
                claim = claim.with_for_update(skip_locked=True)  # rows another replica is deleting are left to it
            async with db.session() as session:
                result = await session.execute(delete(target.table).where(locator.in_(claim.scalar_subquery())))
            count = int(getattr(result, "rowcount", 0) or 0)
        deleted += count
        if count < batch:
            return deleted


def redelivery_horizon(settings: ServiceSettings) -> timedelta:
    """How long after it was applied an event can still be delivered again to this service's consumer.

    A delivery not acknowledged comes back after `ack_wait`, a failed one after the consumer's
    backoff (doubling from the retry delay), up to the delivery bound.
    """
    deliveries = max(settings.consumer_max_deliveries, 1)
    backoff = sum(settings.consumer_retry_delay_seconds * 2**n for n in range(deliveries))
    return ACK_WAIT * deliveries + timedelta(seconds=backoff)


def common_purges(settings: ServiceSettings, now: datetime) -> list[Purge]:
    """Sent outbox rows, inbox rows past the redelivery horizon, and old idempotency keys."""
    sent_before = now - timedelta(days=settings.outbox_retention_days)
    applied_before = now - max(timedelta(days=settings.inbox_retention_days), redelivery_horizon(settings))
    keyed_before = now - timedelta(days=settings.idempotency_retention_days)
    return [
        # an unsent row (sent_at NULL) never matches: it is still to be published
        Purge("outbox", OUTBOX, OUTBOX.c.sent_at < sent_before, (OUTBOX.c.seq,)),
        Purge("inbox", INBOX, INBOX.c.processed_at < applied_before, (INBOX.c.id,)),
        Purge("idempotency_keys", IDEMPOTENCY, IDEMPOTENCY.c.created_at < keyed_before, (IDEMPOTENCY.c.id,)),
    ]


async def run_retention(
    db: Database, settings: ServiceSettings, *, now: datetime | None = None, extra: Purges | None = None
) -> dict[str, int]:
    """One pass of every purge of the service; returns the rows deleted per purge."""
    now = now or utcnow()
    targets = common_purges(settings, now)
    if extra is not None:
        async with db.session(read_only=True) as session:
            targets += await extra(session, settings, now)
    counts: dict[str, int] = {}
    for target in targets:
        counts[target.name] = counts.get(target.name, 0) + await purge(db, target, batch=settings.retention_batch_size)
    return counts


def retention_worker(extra: Purges | None = None) -> Callable[[Any], Coroutine[Any, Any, None]]:
    """The scheduled retention job: a pass every `retention_interval_seconds`, surviving any one failure."""

    async def retention(context: Any) -> None:
        settings: ServiceSettings = context.settings
        while True:
            checkpoint()
            try:
                counts = await run_retention(context.db, settings, extra=extra)
                if any(counts.values()):
                    logger.info("retention deleted %s", {k: v for k, v in counts.items() if v})
            except asyncio.CancelledError:
                raise
            except Exception:
                checkpoint()
                logger.exception("retention pass failed; retrying in %ss", settings.retention_interval_seconds)
            await pause(settings.retention_interval_seconds)

    return retention
