"""Items a worker could not process (a pending activation, a ticket, a report), isolated from their peers.

A worker handles each item in its own savepoint. One that fails is rolled back alone, recorded here
with the reason and retried alone after a backoff that doubles per attempt (capped), while the
others go on; a success forgets the record. `GET /v1/failed-items` lists them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Column, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel, col

from slm_shared.db import UTCDateTime

logger = logging.getLogger(__name__)

PENDING_ACTIVATION = "pending_activation"
TICKET = "ticket"
REPORT = "report"
FIRST_RETRY = timedelta(seconds=30)
LONGEST_RETRY = timedelta(hours=1)


class ItemFailure(SQLModel, table=True):
    """An item that failed, how often, why the last time and when it is tried again."""

    __tablename__ = "item_failures"

    kind: str = Field(max_length=32, primary_key=True, description="pending_activation, ticket or report")
    item_id: str = Field(max_length=200, primary_key=True)
    tenant: str = Field(max_length=64, index=True)
    attempts: int
    reason: str = Field(max_length=1000)
    first_failed_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    last_failed_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    retry_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


def backoff(attempts: int) -> timedelta:
    """30 s after the first failure, doubling per attempt, at most an hour."""
    delay: timedelta = min(FIRST_RETRY * 2 ** max(attempts - 1, 0), LONGEST_RETRY)
    return delay


def describe(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= 1000 else text[:997] + "..."


async def record(
    session: AsyncSession, *, kind: str, tenant: str, item_id: str, error: BaseException, now: datetime
) -> ItemFailure:
    """Count one more failure of the item and schedule its next try."""
    logger.warning("%s %s of tenant %s failed: %s", kind, item_id, tenant, error, exc_info=error)
    row = await session.get(ItemFailure, (kind, item_id))
    if row is None:
        row = ItemFailure(
            kind=kind,
            item_id=item_id,
            tenant=tenant,
            attempts=0,
            reason="",
            first_failed_at=now,
            last_failed_at=now,
            retry_at=now,
        )
    row.attempts += 1
    row.reason, row.last_failed_at, row.retry_at = describe(error), now, now + backoff(row.attempts)
    session.add(row)
    await session.flush()
    return row


async def succeeded(session: AsyncSession, *, kind: str, item_ids: Sequence[str]) -> None:
    """Forget the failures of items that have now gone through."""
    if item_ids:
        await session.execute(
            delete(ItemFailure).where(col(ItemFailure.kind) == kind, col(ItemFailure.item_id).in_(list(item_ids)))
        )


async def forget_missing(session: AsyncSession, *, kind: str, id_column: Any) -> None:
    """Forget the failures of items that no longer exist (`id_column`: the items' id column); cheap when none failed."""
    ids = sorted(await recorded(session, kind=kind))
    if not ids:
        return
    present = set((await session.scalars(select(id_column).where(id_column.in_(ids)))).all())
    if gone := [item_id for item_id in ids if item_id not in present]:
        await succeeded(session, kind=kind, item_ids=gone)


async def recorded(session: AsyncSession, *, kind: str) -> set[str]:
    """Every item of a kind with a failure on record."""
    return set((await session.scalars(select(col(ItemFailure.item_id)).where(col(ItemFailure.kind) == kind))).all())


async def held_back(session: AsyncSession, *, kind: str, now: datetime) -> set[str]:
    """The items of a kind still waiting for their next try."""
    rows = await session.scalars(
        select(col(ItemFailure.item_id)).where(col(ItemFailure.kind) == kind, col(ItemFailure.retry_at) > now)
    )
    return set(rows.all())


async def listed(
    session: AsyncSession, *, tenant: str, kind: str | None, limit: int, offset: int
) -> tuple[Sequence[ItemFailure], int]:
    query = select(ItemFailure).where(col(ItemFailure.tenant) == tenant)
    if kind is not None:
        query = query.where(col(ItemFailure.kind) == kind)
    total = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = await session.scalars(query.order_by(ItemFailure.kind, ItemFailure.item_id).limit(limit).offset(offset))
    return rows.all(), total
