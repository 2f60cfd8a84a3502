"""The notifier's retention job deletes finished deliveries with their attempts and keeps the rest."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import select

from slm_notifier import retention
from slm_notifier.config import Settings
from slm_notifier.main import build_app
from slm_notifier.models import DEAD, FAILED, PENDING, SUCCEEDED, Delivery, DeliveryAttempt
from slm_shared.bus.models import OutboxMessage
from slm_shared.db import Database, utcnow
from slm_shared.migrations import upgrade
from slm_shared.retention import run_retention
from slm_shared.testing.app_client import running_app
from slm_shared.testing.nats_server import NatsServer


async def seed(db: Database, cases: dict[str, tuple[str, timedelta]]) -> None:
    now = utcnow()
    async with db.session() as session:
        for name, (status, age) in cases.items():
            session.add(
                Delivery(
                    id=name,
                    tenant="acme",
                    subscription_id="sub-1",
                    event_id=f"event-{name}",
                    event_type="slm.measurement.objective.breached.v1",
                    event_time=now - age,
                    status=status,
                    created_at=now - age,
                    updated_at=now - age,
                )
            )
            await session.flush()
            for number in (1, 2):
                session.add(
                    DeliveryAttempt(
                        delivery_id=name, tenant="acme", number=number, attempted_at=now - age, duration_ms=1
                    )
                )


async def remaining(db: Database) -> tuple[list[str], list[str]]:
    async with db.session() as session:
        deliveries = sorted((await session.scalars(select(Delivery.id))).all())
        attempts = sorted(set((await session.scalars(select(DeliveryAttempt.delivery_id))).all()))
    return deliveries, attempts


async def test_finished_deliveries_go_pending_and_recent_ones_stay(database_url: str) -> None:
    await upgrade("slm_notifier", database_url)
    db = Database(database_url)
    settings = Settings(database_url=database_url, delivery_retention_days=30, inbox_retention_days=14)
    try:
        await seed(
            db,
            {
                "succeeded-old": (SUCCEEDED, timedelta(days=40)),
                "failed-old": (FAILED, timedelta(days=40)),
                "dead-old": (DEAD, timedelta(days=31)),
                "pending-old": (PENDING, timedelta(days=90)),
                "succeeded-recent": (SUCCEEDED, timedelta(days=20)),
            },
        )
        counts = await run_retention(db, settings, extra=retention.purges)
        assert counts["deliveries"] == 3
        kept = ["pending-old", "succeeded-recent"]
        assert await remaining(db) == (kept, kept)

        # a delivery is never deleted while the inbox still remembers its event
        longer = settings.model_copy(update={"delivery_retention_days": 1, "inbox_retention_days": 25})
        await run_retention(db, longer, extra=retention.purges)
        assert await remaining(db) == (kept, kept)
    finally:
        await db.dispose()


async def test_the_running_service_runs_the_job(sqlite_url: str, nats_server: NatsServer) -> None:
    settings = Settings(
        database_url=sqlite_url,
        **nats_server.service_login("notifier"),
        environment="test",
        retention_interval_seconds=0.2,
        outbox_retention_days=1,
        delivery_retention_days=1,
        inbox_retention_days=1,
    )
    await upgrade("slm_notifier", sqlite_url)
    db = Database(sqlite_url)
    try:
        await seed(db, {"old": (SUCCEEDED, timedelta(days=3)), "new": (SUCCEEDED, timedelta(hours=1))})
        async with db.session() as session:
            session.add(
                OutboxMessage(
                    event_id="sent-long-ago",
                    tenant="acme",
                    subject="s",
                    type="t",
                    headers={},
                    body="{}",
                    sent_at=utcnow() - timedelta(days=2),
                )
            )
        async with running_app(build_app(settings)):
            for _ in range(100):
                if (await remaining(db))[0] == ["new"]:
                    break
                await asyncio.sleep(0.1)
        assert await remaining(db) == (["new"], ["new"])
        async with db.session() as session:
            assert (await session.scalars(select(OutboxMessage.event_id))).all() == []
    finally:
        await db.dispose()
