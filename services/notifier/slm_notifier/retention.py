"""What the notifier's retention job deletes: finished deliveries with their attempts, and old alert order."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, and_, exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from slm_notifier.config import Settings
from slm_notifier.models import DEAD, FAILED, PENDING, SUCCEEDED, SUPERSEDED, AlertOrder, Delivery, DeliveryAttempt
from slm_shared.retention import Child, Purge


def delivery_purge(settings: Settings, now: datetime) -> Purge:
    """Deliveries that succeeded, failed, died or were superseded before the retention period, with their attempts.

    Never a pending one, and never one younger than the inbox's memory of its event (a redelivered
    event is recognised by the inbox first, by the delivery's unique key second).
    """
    deliveries: Table = Delivery.__table__  # type: ignore[attr-defined]
    attempts: Table = DeliveryAttempt.__table__  # type: ignore[attr-defined]
    keep = max(timedelta(days=settings.delivery_retention_days), timedelta(days=settings.inbox_retention_days))
    where = and_(deliveries.c.status.in_((SUCCEEDED, FAILED, DEAD, SUPERSEDED)), deliveries.c.updated_at < now - keep)
    return Purge(
        "deliveries",
        deliveries,
        where,
        order_by=(deliveries.c.updated_at,),
        key=("id",),
        children=(Child(attempts, ("delivery_id",), parent=("id",)),),
    )


def alert_order_purge(settings: Settings, now: datetime) -> Purge:
    """The order of alerts nothing was sent for in the retention period, of subscriptions with no delivery that could
    still be sent: none pending (retried) and none dead or failed (replayable).

    An older trigger still waiting is superseded by the row its resolve left, however long it has waited; the
    alert key is not a delivery column, so any such delivery of the subscription keeps all its rows.
    """
    order: Table = AlertOrder.__table__  # type: ignore[attr-defined]
    deliveries: Table = Delivery.__table__  # type: ignore[attr-defined]
    keep = max(timedelta(days=settings.delivery_retention_days), timedelta(days=settings.inbox_retention_days))
    may_send = exists(
        select(deliveries.c.id).where(
            deliveries.c.subscription_id == order.c.subscription_id,
            deliveries.c.status.in_((PENDING, DEAD, FAILED)),
        )
    )
    where = and_(order.c.updated_at < now - keep, ~may_send)
    return Purge("alert_order", order, where, order_by=(order.c.updated_at,), key=("id",))


async def purges(session: AsyncSession, settings: Any, now: datetime) -> list[Purge]:
    """Everything the notifier's retention job deletes, besides the outbox, inbox and idempotency keys."""
    assert isinstance(settings, Settings)
    return [delivery_purge(settings, now), alert_order_purge(settings, now)]
