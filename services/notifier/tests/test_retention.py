"""The notifier's retention job deletes finished deliveries with their attempts and keeps the rest."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import select, update

from slm_notifier import retention
from slm_notifier.channels.base import OutgoingMessage
from slm_notifier.config import Settings
from slm_notifier.itsm.ordering import AlertOrderStore
from slm_notifier.main import build_app
from slm_notifier.models import DEAD, FAILED, PENDING, SUCCEEDED, AlertOrder, Delivery, DeliveryAttempt
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


def burn(subscription_id: str, *, firing: bool, observed_days_ago: int) -> OutgoingMessage:
    now = utcnow()
    return OutgoingMessage(
        delivery_id=f"dlv-{subscription_id}-{firing}",
        event_id=f"evt-{subscription_id}-{firing}",
        event_type="slm.measurement.objective.burn_alert.v1",
        event_time=now - timedelta(days=observed_days_ago),
        tenant="acme",
        payload={
            "agreement_id": "agr-1",
            "objective_id": "obj-1",
            "tier": "page",
            "firing": firing,
            "observed_at": (now - timedelta(days=observed_days_ago)).isoformat(),
        },
        target={},
        secrets=(),
        subscription_id=subscription_id,
    )


async def test_alert_order_stays_while_a_delivery_of_its_subscription_could_still_be_sent(database_url: str) -> None:
    await upgrade("slm_notifier", database_url)
    db = Database(database_url)
    settings = Settings(database_url=database_url, delivery_retention_days=30, inbox_retention_days=14)
    order = AlertOrderStore(db)
    key = "agr-1:obj-1:burn:page"
    try:
        # each subscription's resolve (observed 40 days ago) was sent 40 days ago; its trigger, observed before,
        # is still pending (PagerDuty refused it for weeks), dead or failed (replayable), or long since succeeded
        cases = {"pending": PENDING, "dead": DEAD, "failed": FAILED, "done": SUCCEEDED}
        for name, status in cases.items():
            assert await order.claim(burn(f"sub-{name}", firing=False, observed_days_ago=40), key)
            async with db.session() as session:
                session.add(
                    Delivery(id=f"trigger-{name}", tenant="acme", subscription_id=f"sub-{name}",
                             event_id=f"evt-{name}", event_type="slm.measurement.objective.burn_alert.v1",
                             event_time=utcnow() - timedelta(days=41), status=status,
                             updated_at=utcnow() - timedelta(days=35 if status == SUCCEEDED else 1))
                )  # fmt: skip
        async with db.session() as session:
            await session.execute(update(AlertOrder).values(updated_at=utcnow() - timedelta(days=40)))

        counts = await run_retention(db, settings, extra=retention.purges)
        assert counts["alert_order"] == 1
        async with db.session() as session:
            left = sorted((await session.scalars(select(AlertOrder.subscription_id))).all())
        assert left == ["sub-dead", "sub-failed", "sub-pending"]
        for name in ("pending", "dead", "failed"):  # the trigger, sent now, is still superseded by its resolve
            assert not await order.claim(burn(f"sub-{name}", firing=True, observed_days_ago=41), key), name
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
