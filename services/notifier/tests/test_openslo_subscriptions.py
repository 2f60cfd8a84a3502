"""Applied OpenSLO targets as subscriptions: created once, changed in place, never two for one name."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import select

from slm_notifier.models import Subscription
from slm_notifier.openslo import on_openslo_applied
from slm_shared.contracts import EVENTS, CloudEvent
from slm_shared.contracts.payloads import OpenSLOAppliedV1
from slm_shared.db import Database
from slm_shared.migrations import upgrade

NAME = "openslo:orders-hook:orders"


def applied(tenant: str, url: str) -> CloudEvent:
    target: dict[str, Any] = {"name": NAME, "service_key": "orders", "channel": "webhook", "target": {"url": url}}
    data = OpenSLOAppliedV1.model_validate({"notification_targets": [target]})
    return EVENTS.openslo_applied.build(tenant=tenant, data=data, subject=tenant)


async def held(db: Database, tenant: str) -> list[Subscription]:
    async with db.session(read_only=True) as session:
        rows = await session.scalars(select(Subscription).where(Subscription.tenant == tenant))
        return list(rows)


async def consume(db: Database, event: CloudEvent) -> None:
    async with db.session() as session:
        await on_openslo_applied(session, event)


async def test_a_target_applied_again_changes_its_subscription_in_place(database_url: str, tenant: str) -> None:
    await upgrade("slm_notifier", database_url)
    db = Database(database_url)
    try:
        first = applied(tenant, "https://hooks.example.com/a")
        await consume(db, first)
        await consume(db, first)  # redelivered: nothing changes
        [subscription] = await held(db, tenant)
        assert (subscription.target, subscription.version) == ({"url": "https://hooks.example.com/a"}, 1)
        await consume(db, applied(tenant, "https://hooks.example.com/b"))
        [changed] = await held(db, tenant)
        assert (changed.id, changed.target, changed.version) == (
            subscription.id,
            {"url": "https://hooks.example.com/b"},
            2,
        )
        await consume(db, first)  # an older apply arriving late does not undo the newer one
        [kept] = await held(db, tenant)
        assert (kept.target, kept.version) == ({"url": "https://hooks.example.com/b"}, 2)
    finally:
        await db.dispose()


async def test_two_replicas_consuming_two_applies_at_once_make_one_subscription(postgres_url: str, tenant: str) -> None:
    await upgrade("slm_notifier", postgres_url)
    one, two = Database(postgres_url), Database(postgres_url)
    try:
        for attempt in range(5):
            events = [applied(f"{tenant}-{attempt}", f"https://hooks.example.com/{n}") for n in range(2)]
            await asyncio.gather(consume(one, events[0]), consume(two, events[1]))
            assert len(await held(one, f"{tenant}-{attempt}")) == 1
    finally:
        await one.dispose()
        await two.dispose()
