"""Arming a notification's next step from what was read: one acknowledged between the read and the write is not armed
from its creation time; the next pass arms it from the acknowledgement."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from slm_notifier.escalation import repository
from slm_notifier.escalation.service import Escalator, acknowledge
from slm_notifier.models import OPEN, Notification
from slm_shared.db import Database, utcnow
from slm_shared.migrations import upgrade

HOUR = 3600


async def stored(db: Database, notification_id: str) -> Notification:
    async with db.session(read_only=True) as session:
        found = await session.scalar(select(Notification).where(Notification.id == notification_id))
        assert found is not None
        return found


async def test_a_chase_acknowledged_after_it_was_read_is_armed_from_the_acknowledgement(
    database_url: str, tenant: str
) -> None:
    await upgrade("slm_notifier", database_url)
    db = Database(database_url)
    try:
        created = utcnow() - timedelta(hours=5)
        chase = Notification(
            tenant=tenant, subscription_id="s", event_id="e", event_type="t", action_id="act-1",
            escalation_seconds=HOUR, state=OPEN, created_at=created, updated_at=created,
        )  # fmt: skip
        async with db.session() as session:
            session.add(chase)
        async with db.session(read_only=True) as session:  # the arming pass reads it, still open
            [row] = [r for r in await repository.unarmed(session, limit=100) if r.id == chase.id]
        async with db.session() as session:  # acknowledged meanwhile
            held = await session.scalar(select(Notification).where(Notification.id == chase.id))
            assert held is not None
            await acknowledge(session, notification=held, by="on-call")
        async with db.session() as session:  # the pass writes what it read: stale, so nothing is armed
            await repository.set_escalate_at(
                session,
                notification_id=row.id,
                when=row.created_at + timedelta(seconds=HOUR),
                state=row.state,
                acknowledged_at=row.acknowledged_at,
            )
        acknowledged = await stored(db, chase.id)
        assert acknowledged.escalate_at is None
        assert acknowledged.acknowledged_at is not None

        contacts: Any = None  # arming looks up no contacts, and nothing is due
        await Escalator(db, contacts, default_seconds=HOUR).run_once()
        armed = await stored(db, chase.id)
        assert armed.escalate_at == acknowledged.acknowledged_at + timedelta(seconds=HOUR)
    finally:
        await db.dispose()
