"""Notifications and their escalation: SQL."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Row, Table, and_, func, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from slm_notifier.models import ACKNOWLEDGED, EXHAUSTED, OPEN, RESOLVED, ActionSeen, Delivery, Notification

NOTIFICATIONS = cast(Table, Notification.__table__)  # type: ignore[attr-defined]
N = NOTIFICATIONS.c
D = cast(Table, Delivery.__table__).c  # type: ignore[attr-defined]


async def insert_notifications(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    if rows:
        await session.execute(insert(NOTIFICATIONS), rows)


async def get_notification(session: AsyncSession, *, notification_id: str, tenant: str | None) -> Notification | None:
    """One notification; `tenant` None only for signed links, whose signature names the notification."""
    query = select(Notification).where(N.id == notification_id)
    if tenant is not None:
        query = query.where(N.tenant == tenant)
    row = await session.scalar(query)
    return row


async def list_notifications(
    session: AsyncSession,
    *,
    tenant: str,
    limit: int,
    offset: int,
    state: str | None = None,
    agreement_id: str | None = None,
    consumer_party_id: str | None = None,
) -> tuple[Sequence[Notification], int]:
    query = select(Notification).where(N.tenant == tenant)
    for column, value in ((N.state, state), (N.agreement_id, agreement_id), (N.consumer_party_id, consumer_party_id)):
        if value is not None:
            query = query.where(column == value)
    total = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = await session.scalars(query.order_by(N.created_at.desc(), N.id).limit(limit).offset(offset))
    return rows.all(), total


async def resolve_open(
    session: AsyncSession, *, tenant: str, agreement_id: str, objective_id: str, now: datetime
) -> int:
    """Stop escalating the open notifications of an objective that recovered."""
    result = await session.execute(
        update(NOTIFICATIONS)
        .where(
            N.tenant == tenant,
            N.agreement_id == agreement_id,
            N.objective_id == objective_id,
            N.state.in_((OPEN, EXHAUSTED)),
        )
        .values(state=RESOLVED, escalate_at=None, updated_at=now)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]  # DML gives a CursorResult; execute() is typed Result


# A chase goes on after acknowledgement (at the acknowledged level, without escalating); a breach's stops.
_CHASED = or_(N.state == OPEN, and_(N.state == ACKNOWLEDGED, N.action_id.is_not(None)))


async def unarmed(session: AsyncSession, *, limit: int) -> Sequence[Row[Any]]:
    """Notifications still followed whose next step is not timed yet: new ones, and acknowledged chases."""
    query = (
        select(N.id, N.state, N.created_at, N.acknowledged_at, N.escalation_seconds)
        .where(_CHASED, N.escalate_at.is_(None))
        .order_by(N.created_at)
        .limit(limit)
    )
    return (await session.execute(query)).all()


async def set_escalate_at(
    session: AsyncSession, *, notification_id: str, when: datetime, state: str, acknowledged_at: datetime | None
) -> None:
    """Time its next step, unless it was acknowledged (or changed otherwise) since it was read: then `when`, counted
    from the time read, is stale, and the next pass times it from the acknowledgement."""
    await session.execute(
        update(NOTIFICATIONS)
        .where(
            N.id == notification_id,
            N.escalate_at.is_(None),
            N.state == state,
            N.acknowledged_at.is_not_distinct_from(acknowledged_at),
        )
        .values(escalate_at=when)
    )


async def due(session: AsyncSession, *, now: datetime, limit: int) -> Sequence[Notification]:
    """Notifications whose next escalation (or a chase's next reminder) has come."""
    rows = await session.scalars(
        select(Notification).where(_CHASED, N.escalate_at <= now).order_by(N.escalate_at, N.id).limit(limit)
    )
    return rows.all()


async def advance(
    session: AsyncSession,
    *,
    notification_id: str,
    from_level: int,
    values: dict[str, Any],
    state: str = OPEN,
    reminders: int | None = None,
) -> bool:
    """Move a notification on if it is still in `state` at `from_level` (and, for a reminder, has sent
    `reminders` so far): another replica may have done it."""
    query = update(NOTIFICATIONS).where(N.id == notification_id, N.state == state, N.level == from_level)
    if reminders is not None:
        query = query.where(N.reminders == reminders)
    result = await session.execute(query.values(**values))
    return bool(result.rowcount)  # type: ignore[attr-defined]  # DML gives a CursorResult; execute() is typed Result


async def resolve_chase(session: AsyncSession, *, tenant: str, action_id: str, now: datetime) -> int:
    """Stop chasing an action that is done, cancelled or no longer overdue."""
    result = await session.execute(
        update(NOTIFICATIONS)
        .where(N.tenant == tenant, N.action_id == action_id, N.state.in_((OPEN, ACKNOWLEDGED, EXHAUSTED)))
        .values(state=RESOLVED, escalate_at=None, updated_at=now)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def end_escalations(
    session: AsyncSession,
    *,
    tenant: str,
    now: datetime,
    subscription_id: str | None = None,
    agreement_id: str | None = None,
) -> int:
    """Stop escalating a deleted subscription's notifications, or the chases of an agreement that ended."""
    query = update(NOTIFICATIONS).where(N.tenant == tenant, N.state.in_((OPEN, ACKNOWLEDGED, EXHAUSTED)))
    if subscription_id is not None:
        query = query.where(N.subscription_id == subscription_id)
    if agreement_id is not None:
        query = query.where(N.agreement_id == agreement_id, N.action_id.is_not(None))
    result = await session.execute(query.values(state=RESOLVED, escalate_at=None, updated_at=now))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]  # DML gives a CursorResult; execute() is typed Result


async def first_delivery(session: AsyncSession, *, notification_id: str) -> Delivery | None:
    """The level-1 delivery of a notification: the event it is about."""
    row = await session.scalar(
        select(Delivery).where(D.notification_id == notification_id).order_by(D.escalation_level).limit(1)
    )
    return row


ACTIONS_SEEN = cast(Table, ActionSeen.__table__)  # type: ignore[attr-defined]


async def newest_action(
    session: AsyncSession, *, tenant: str, action_id: str, revision: int, status: str, due_on: str, now: datetime
) -> Row[Any]:
    """Keep what an action event says unless a later revision was told; returns the newest known (revision,
    status, due date). One upsert: two replicas at once meet on the key and the higher revision wins."""
    values = {"tenant": tenant, "action_id": action_id, "revision": revision, "status": status, "due_on": due_on,
              "updated_at": now}  # fmt: skip
    upsert = (pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert)(ACTIONS_SEEN)
    await session.execute(
        upsert.values(values).on_conflict_do_update(
            index_elements=["tenant", "action_id"],
            set_={name: upsert.excluded[name] for name in ("revision", "status", "due_on", "updated_at")},
            where=ACTIONS_SEEN.c.revision <= upsert.excluded.revision,
        )
    )
    seen = ACTIONS_SEEN.c
    query = select(seen.revision, seen.status, seen.due_on).where(seen.tenant == tenant, seen.action_id == action_id)
    return (await session.execute(query)).one()
