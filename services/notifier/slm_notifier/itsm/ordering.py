"""Per alert, the newest observation sent: a retried older event (a trigger) never follows a newer one (a resolve)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import cast

from sqlalchemy import Table
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from slm_notifier.channels.base import OutgoingMessage
from slm_notifier.models import AlertOrder
from slm_shared.db import Database, utcnow

ORDER = cast(Table, AlertOrder.__table__)  # type: ignore[attr-defined]


def observed_at(message: OutgoingMessage) -> datetime:
    """When measurement observed what the event tells (the status or burn-rate tier), else the event's time."""
    raw = message.payload.get("observed_at")
    if isinstance(raw, str):
        try:
            found = datetime.fromisoformat(raw)
        except ValueError:
            return message.event_time
        return found if found.tzinfo is not None else found.replace(tzinfo=UTC)
    return message.event_time


class AlertOrderStore:
    """Claims the right to send an alert's event in the order the events were observed."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def claim(self, message: OutgoingMessage, key: str) -> bool:
        """Record `message` as the alert's newest; False when a later observation of it was claimed before.

        One upsert on (subscription, alert key): the same observation again (a retry) passes, an earlier one
        does not, whichever of two attempts or replicas commits first.
        """
        values = {
            "tenant": message.tenant,
            "subscription_id": message.subscription_id,
            "alert_key": key,
            "observed_at": observed_at(message),
            "event_id": message.event_id,
            "updated_at": utcnow(),
        }
        async with self.db.session() as session:
            dialect = session.get_bind().dialect.name
            upsert = (pg_insert if dialect == "postgresql" else sqlite_insert)(ORDER)
            statement = (
                upsert.values(values)
                .on_conflict_do_update(
                    index_elements=["subscription_id", "alert_key"],
                    set_={name: upsert.excluded[name] for name in ("observed_at", "event_id", "updated_at")},
                    where=ORDER.c.observed_at <= upsert.excluded.observed_at,
                )
                .returning(ORDER.c.id)
            )
            return (await session.execute(statement)).first() is not None
