"""Which external ticket a correlation key opened, kept in the database."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from sqlalchemy import Table, insert, select, update

from slm_notifier.models import OPEN, ExternalTicket
from slm_notifier.models import RESOLVED as RESOLVED  # re-exported for the ITSM adapters
from slm_shared.db import Database, utcnow

TICKETS = cast(Table, ExternalTicket.__table__)  # type: ignore[attr-defined]
T = TICKETS.c
RESOLVING = "resolving"


@dataclass(frozen=True)
class TicketRef:
    id: int
    external_id: str
    external_key: str | None
    state: str


class TicketStore:
    """Looks up and records the open ticket of (subscription, correlation key)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def open_ticket(self, *, subscription_id: str, key: str) -> TicketRef | None:
        """The newest ticket still open (or being resolved) for this key."""
        async with self.db.session() as session:
            row = (
                await session.execute(
                    select(T.id, T.external_id, T.external_key, T.state)
                    .where(T.subscription_id == subscription_id, T.correlation_key == key, T.state != RESOLVED)
                    .order_by(T.id.desc())
                    .limit(1)
                )
            ).first()
        return TicketRef(row.id, row.external_id, row.external_key, row.state) if row else None

    async def opened(
        self, *, tenant: str, subscription_id: str, system: str, key: str, external_id: str, external_key: str | None
    ) -> None:
        """Record a ticket the connector opened (or found open)."""
        now = utcnow()
        async with self.db.session() as session:
            await session.execute(
                insert(TICKETS),
                [
                    {
                        "tenant": tenant,
                        "subscription_id": subscription_id,
                        "system": system,
                        "correlation_key": key,
                        "external_id": external_id,
                        "external_key": external_key,
                        "state": OPEN,
                        "created_at": now,
                        "updated_at": now,
                    }
                ],
            )

    async def mark(self, ticket_id: int, state: str) -> None:
        """Move a ticket to `resolving` (partly done) or `resolved`."""
        async with self.db.session() as session:
            await session.execute(update(TICKETS).where(T.id == ticket_id).values(state=state, updated_at=utcnow()))
