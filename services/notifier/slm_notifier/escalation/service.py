"""Escalation steps: acknowledge, arm the timer, and hand an unacknowledged breach to the next level.

An overdue action's chase (a notification with `action_id`) follows the same levels, then keeps reminding:
at the top level once no level is left, and at the acknowledged level once someone acknowledged (an
acknowledgement stops the climb, not the reminders), every escalation interval until the action is done,
cancelled or given a due date still ahead."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from slm_notifier import repository as deliveries
from slm_notifier.contacts.book import ContactBook, ContactLookupFailed
from slm_notifier.contacts.rules import escalation_seconds, next_level
from slm_notifier.escalation import repository
from slm_notifier.models import ACKNOWLEDGED, EXHAUSTED, OPEN, PENDING, RESOLVED, Notification, new_id
from slm_notifier.service import mark_queued
from slm_shared.db import Database, utcnow
from slm_shared.errors import Conflict

logger = logging.getLogger(__name__)
BATCH = 100


async def acknowledge(session: AsyncSession, *, notification: Notification, by: str) -> Notification:
    """Stop a notification's escalation (a chase's reminders go on at this level); acknowledging twice changes
    nothing."""
    if notification.state == ACKNOWLEDGED:
        return notification
    if notification.state == RESOLVED:
        raise Conflict(f"Notification {notification.id} is already resolved: the objective recovered")
    now = utcnow()
    notification.state = ACKNOWLEDGED
    notification.acknowledged_at = now
    notification.acknowledged_by = by[:200]
    notification.escalate_at = None
    notification.updated_at = now
    await session.flush()
    return notification


class Escalator:
    """Arms escalation timers and escalates due notifications to the next level's contacts."""

    def __init__(
        self,
        db: Database,
        contacts: ContactBook,
        *,
        default_seconds: int,
        lookup_retry_seconds: float = 60.0,
        max_reminders: int = 30,
    ) -> None:
        self.db = db
        self.contacts = contacts
        self.default_seconds = default_seconds
        self.lookup_retry_seconds = lookup_retry_seconds
        self.max_reminders = max_reminders

    async def run_once(self, now: datetime | None = None) -> int:
        """One pass: arm new notifications, escalate the due ones; returns how many escalated."""
        now = now or utcnow()
        # Looked for in read transactions: an idle pass takes no write turn (on SQLite it would hold up
        # the consumer and the delivery worker of this process, every few seconds, for nothing).
        async with self.db.session(read_only=True) as session:
            unarmed = list(await repository.unarmed(session, limit=BATCH))
        if unarmed:
            async with self.db.session() as session:
                for row in unarmed:
                    seconds = escalation_seconds(row.escalation_seconds, default=self.default_seconds)
                    since = row.acknowledged_at or row.created_at  # an acknowledged chase waits one interval
                    await repository.set_escalate_at(  # only where still unarmed, as read
                        session,
                        notification_id=row.id,
                        when=since + timedelta(seconds=seconds),
                        state=row.state,
                        acknowledged_at=row.acknowledged_at,
                    )
        async with self.db.session(read_only=True) as session:
            due = list(await repository.due(session, now=now, limit=BATCH))
        escalated = 0
        for notification in due:
            try:
                escalated += await self._escalate(notification, now)
            except Exception:
                logger.exception("escalating notification %s failed", notification.id)
        return escalated

    async def _escalate(self, notification: Notification, now: datetime) -> int:
        party = None
        if notification.party_id:
            try:
                party = await self.contacts.party(tenant=notification.tenant, party_id=notification.party_id)
            except ContactLookupFailed as exc:
                await self._retry_lookup(notification, now, str(exc))
                return 0
        contacts = party.contacts if party else []
        chase = notification.action_id is not None
        level = None if notification.state == ACKNOWLEDGED else next_level(contacts, notification.level)
        if level is None and chase:
            return await self._remind(notification, now, party.escalation_seconds if party else None)
        async with self.db.session() as session:
            if level is None:
                await repository.advance(
                    session,
                    notification_id=notification.id,
                    from_level=notification.level,
                    values={"state": EXHAUSTED, "escalate_at": None, "escalation_error": None, "updated_at": now},
                )
                return 0
            seconds = escalation_seconds(
                notification.escalation_seconds,
                party.escalation_seconds if party else None,
                default=self.default_seconds,
            )
            moved = await repository.advance(
                session,
                notification_id=notification.id,
                from_level=notification.level,
                values={
                    "level": level,
                    "escalate_at": now + timedelta(seconds=seconds),
                    "escalation_error": None,
                    "updated_at": now,
                },
            )
            if not moved:
                return 0
            return await _queue(session, notification, level=level, now=now)

    async def _remind(self, notification: Notification, now: datetime, party_seconds: int | None) -> int:
        """Remind the chase's current level again (the policy's repeat: one escalation interval later)."""
        seconds = escalation_seconds(notification.escalation_seconds, party_seconds, default=self.default_seconds)
        async with self.db.session() as session:
            if notification.reminders >= self.max_reminders:  # bounded: nobody is reminded forever
                await repository.advance(
                    session,
                    notification_id=notification.id,
                    from_level=notification.level,
                    state=notification.state,
                    reminders=notification.reminders,
                    values={"state": EXHAUSTED, "escalate_at": None, "updated_at": now},
                )
                return 0
            moved = await repository.advance(
                session,
                notification_id=notification.id,
                from_level=notification.level,
                state=notification.state,
                reminders=notification.reminders,
                values={
                    "reminders": notification.reminders + 1,
                    "escalate_at": now + timedelta(seconds=seconds),
                    "escalation_error": None,
                    "updated_at": now,
                },
            )
            if not moved:
                return 0
            return await _queue(
                session, notification, level=notification.level, now=now, reminder=notification.reminders + 1
            )

    async def _retry_lookup(self, notification: Notification, now: datetime, error: str) -> None:
        """Keep the notification open and try again later; the failure is on the notification for all to see."""
        logger.warning("escalating notification %s waits: %s", notification.id, error)
        async with self.db.session() as session:
            await repository.advance(
                session,
                notification_id=notification.id,
                from_level=notification.level,
                values={
                    "escalate_at": now + timedelta(seconds=self.lookup_retry_seconds),
                    "escalation_error": f"contact lookup failed, retrying: {error}"[:500],
                    "lookup_failures": repository.N.lookup_failures + 1,  # two replicas both count
                    "updated_at": now,
                },
            )


async def _queue(
    session: AsyncSession, notification: Notification, *, level: int, now: datetime, reminder: int = 0
) -> int:
    """A delivery of the notification's event to `level`; a reminder is a delivery of its own (own id)."""
    first = await repository.first_delivery(session, notification_id=notification.id)
    if first is None:
        return 0
    event_id = first.event_id if not reminder else reminder_event_id(first.event_id, reminder)
    await deliveries.insert_deliveries(
        session,
        [
            {
                "id": new_id(),
                "tenant": first.tenant,
                "subscription_id": first.subscription_id,
                "event_id": event_id,
                "event_type": first.event_type,
                "event_time": first.event_time,
                "payload": first.payload,
                "escalation_level": level,
                "notification_id": notification.id,
                "status": PENDING,
                "attempt_count": 0,
                "round_attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
                "updated_at": now,
            }
        ],
    )
    mark_queued(session)
    return 1


def reminder_event_id(event_id: str, reminder: int) -> str:
    """The event id a chase's n-th reminder is delivered under (at most 64 characters)."""
    suffix = f":r{reminder}"
    return event_id[: 64 - len(suffix)] + suffix


__all__ = ["OPEN", "Escalator", "acknowledge", "reminder_event_id"]
