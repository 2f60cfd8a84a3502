"""A deleted OpenSLO document's subscriptions are disabled: nothing more is sent; only a newer apply enables them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from conftest import burn_alert, wait_until
from receivers import Receiver
from sqlalchemy import select

from slm_notifier import service
from slm_notifier.models import RemovedSubscription, Subscription
from slm_notifier.openslo import on_openslo_applied, on_openslo_removed
from slm_notifier.schemas import SubscriptionCreate
from slm_shared.contracts import EVENTS, CloudEvent
from slm_shared.contracts.payloads import OpenSLOAppliedV1, OpenSLORemovedV1
from slm_shared.db import Database, utcnow
from slm_shared.migrations import upgrade
from slm_shared.testing.databases import migrated_database

HOOK, PAGE = "openslo:orders-hook:orders", "openslo:orders-page:orders"


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    """The notifier's database, migrated to the head (the tables the handlers write)."""
    async with migrated_database("slm_notifier", database_url) as database:
        yield database


def applied(tenant: str, url: str) -> CloudEvent:
    targets: list[dict[str, Any]] = [
        {
            "name": name,
            "service_key": "orders",
            "channel": "webhook",
            "target": {"url": f"{url}/{name.split(':')[1].removeprefix('orders-')}"},
        }
        for name in (HOOK, PAGE)
    ]
    data = OpenSLOAppliedV1.model_validate({"notification_targets": targets})
    return EVENTS.openslo_applied.build(tenant=tenant, data=data, subject=tenant)


def removed(tenant: str, *names: str) -> CloudEvent:
    data = OpenSLORemovedV1.model_validate({"kind": "SLO", "name": "orders-fast", "notification_targets": list(names)})
    return EVENTS.openslo_removed.build(tenant=tenant, data=data, subject=tenant)


def at(event: CloudEvent, seconds: int) -> CloudEvent:
    return event.model_copy(update={"time": event.time + timedelta(seconds=seconds)})


async def held(db: Database, tenant: str) -> list[Subscription]:
    async with db.session(read_only=True) as session:
        return list(await session.scalars(select(Subscription).where(Subscription.tenant == tenant)))


async def enabled(db: Database, tenant: str) -> dict[str, bool]:
    async with db.session(read_only=True) as session:
        rows = await session.scalars(select(Subscription).where(Subscription.tenant == tenant))
        return {s.name: s.enabled for s in rows}


async def consume(db: Database, event: CloudEvent) -> None:
    async with db.session() as session:
        handler = on_openslo_removed if event.type == EVENTS.openslo_removed.type else on_openslo_applied
        await handler(session, event)


async def test_a_deletion_disables_only_its_subscriptions_and_a_late_older_apply_does_not_enable_them(
    db: Database, tenant: str
) -> None:
    first = applied(tenant, "https://hooks.example.com")
    await consume(db, first)
    deleted = at(removed(tenant, HOOK), 10)
    await consume(db, deleted)
    await consume(db, removed(f"{tenant}-other", HOOK, PAGE))  # another tenant's deletion touches nothing here
    assert await enabled(db, tenant) == {HOOK: False, PAGE: True}
    async with db.session(read_only=True) as session:
        hook = await session.scalar(
            select(Subscription).where(Subscription.tenant == tenant, Subscription.name == HOOK)
        )
        assert hook is not None and hook.disabled_reason == "OpenSLO document deleted: SLO orders-fast"
    await consume(db, first)  # the apply before it, redelivered late
    await consume(db, at(first, 5))  # an apply older than the deletion
    await consume(db, deleted)  # the deletion redelivered
    assert await enabled(db, tenant) == {HOOK: False, PAGE: True}
    await consume(db, at(first, 20))  # applied again after the deletion: the same subscription, enabled
    assert await enabled(db, tenant) == {HOOK: True, PAGE: True}
    await consume(db, at(removed(tenant, HOOK), 15))  # a deletion older than that apply, delivered after it
    assert await enabled(db, tenant) == {HOOK: True, PAGE: True}


async def test_a_deletion_consumed_before_its_apply_keeps_that_older_apply_from_subscribing(
    db: Database, tenant: str
) -> None:
    first = applied(tenant, "https://hooks.example.com")
    await consume(db, at(removed(tenant, HOOK), 10))  # the apply was nak'd: its deletion is consumed first
    await consume(db, at(removed(tenant, HOOK), 5))  # an older deletion does not move it back
    assert await enabled(db, tenant) == {}
    await consume(db, first)  # the older apply, late: the deleted target is not subscribed
    await consume(db, at(first, 8))
    assert await enabled(db, tenant) == {PAGE: True}
    await consume(db, at(first, 20))  # a newer apply subscribes it
    await consume(db, first)
    assert await enabled(db, tenant) == {HOOK: True, PAGE: True}


async def test_a_subscription_made_over_the_api_is_disabled_only_once_an_apply_took_it_over(
    db: Database, tenant: str
) -> None:
    async with db.session() as session:  # made over the API under the name a document will use
        made = SubscriptionCreate(
            name=HOOK,
            event_types=["slm.measurement.objective.burn_alert.v1"],
            target={"url": "https://by-hand.example.com"},
        )
        await service.create_subscription(session, tenant=tenant, data=made)
    later = utcnow() + timedelta(seconds=5)
    await consume(db, removed(tenant, HOOK).model_copy(update={"time": later}))
    assert await enabled(db, tenant) == {HOOK: True}  # never applied: not the documents' to disable
    taken = applied(tenant, "https://hooks.example.com").model_copy(update={"time": later + timedelta(seconds=5)})
    await consume(db, taken)  # a document wires the same name, after its last change: it takes it over
    [hook] = [s for s in await held(db, tenant) if s.name == HOOK]
    assert (hook.target["url"], hook.applied_at) == ("https://hooks.example.com/hook", taken.time)
    await consume(db, removed(tenant, HOOK).model_copy(update={"time": taken.time + timedelta(seconds=5)}))
    assert await enabled(db, tenant) == {HOOK: False, PAGE: True}  # now a deletion disables it


async def test_a_deletion_consumed_before_the_apply_taking_over_an_api_subscription_disables_it_as_in_order(
    db: Database, tenant: str
) -> None:
    names = ("openslo:ordered:orders", "openslo:reordered:orders", "openslo:tied:orders")
    async with db.session() as session:  # made over the API under the names documents will use
        for name in names:
            made = SubscriptionCreate(
                name=name,
                event_types=["slm.measurement.objective.burn_alert.v1"],
                target={"url": "https://by-hand.example.com"},
            )
            await service.create_subscription(session, tenant=tenant, data=made)
    base = utcnow() + timedelta(seconds=5)  # after the subscriptions' last change over the API

    def wired(name: str, seconds: int) -> CloudEvent:
        target = {"name": name, "service_key": "orders", "channel": "webhook"}
        data = OpenSLOAppliedV1.model_validate(
            {"notification_targets": [{**target, "target": {"url": "https://hooks.example.com/x"}}]}
        )
        event = EVENTS.openslo_applied.build(tenant=tenant, data=data, subject=tenant)
        return event.model_copy(update={"time": base + timedelta(seconds=seconds)})

    def deleted(name: str, seconds: int) -> CloudEvent:
        return removed(tenant, name).model_copy(update={"time": base + timedelta(seconds=seconds)})

    ordered, reordered, tied = names
    await consume(db, wired(ordered, 5))  # in order: the apply takes it over, the deletion disables it
    await consume(db, deleted(ordered, 10))
    # reversed: the deletion first finds a subscription not the documents' yet; the apply taking it over
    # disables it
    await consume(db, deleted(reordered, 10))
    assert (await enabled(db, tenant))[reordered] is True
    await consume(db, wired(reordered, 5))
    # the same event time for the apply and the deletion: disabled, whichever is consumed first
    await consume(db, deleted(tied, 7))
    await consume(db, wired(tied, 7))
    assert await enabled(db, tenant) == dict.fromkeys(names, False)
    rows = {s.name: s for s in await held(db, tenant)}
    for name, seconds in ((ordered, 10), (reordered, 10), (tied, 7)):
        row = rows[name]
        assert (row.target["url"], row.applied_at) == (
            "https://hooks.example.com/x",
            base + timedelta(seconds=seconds),
        )
        # named by its document whichever was consumed first
        assert row.disabled_reason == "OpenSLO document deleted: SLO orders-fast"
    # redelivered, each changes nothing; an apply newer than the deletion enables it again
    await consume(db, wired(reordered, 5))
    await consume(db, deleted(reordered, 10))
    assert (await enabled(db, tenant))[reordered] is False
    await consume(db, wired(reordered, 20))
    assert (await enabled(db, tenant))[reordered] is True
    # one the documents applied, deleted and applied again at the deletion's time: disabled both ways
    await consume(db, wired(ordered, 30))
    assert (await enabled(db, tenant))[ordered] is True
    await consume(db, deleted(ordered, 40))
    await consume(db, wired(ordered, 40))
    assert (await enabled(db, tenant))[ordered] is False


async def test_after_the_deletion_a_burn_alert_reaches_no_deleted_target(
    make_client: Any, publish: Any, tenant: str
) -> None:
    async with Receiver() as receiver, make_client() as client:
        await publish(applied(tenant, receiver.url("")))

        async def subscribed() -> bool:
            listed = (await client.get("/v1/subscriptions")).json()["items"]
            return {s["name"] for s in listed if s["enabled"]} == {HOOK, PAGE}

        await wait_until(subscribed)
        await publish(EVENTS.objective_burn_alert.build(tenant=tenant, data=burn_alert(service_key="orders")))
        assert sorted(r.path for r in await receiver.wait_for(2)) == ["/hook", "/page"]

        await publish(removed(tenant, HOOK))

        async def disabled() -> bool:
            listed = (await client.get("/v1/subscriptions")).json()["items"]
            return {s["name"]: s["enabled"] for s in listed} == {HOOK: False, PAGE: True}

        await wait_until(disabled)
        await publish(
            EVENTS.objective_burn_alert.build(tenant=tenant, data=burn_alert(service_key="orders", tier="slow"))
        )
        assert [r.path for r in (await receiver.wait_for(3))[2:]] == ["/page"]
        await asyncio.sleep(1)
        assert len(receiver.requests) == 3
        listed: httpx.Response = await client.get("/v1/subscriptions")
        [hook] = [s for s in listed.json()["items"] if s["name"] == HOOK]
        assert hook["disabled_reason"] == "OpenSLO document deleted: SLO orders-fast"


async def test_a_subscription_disabled_by_a_deletion_consumed_first_names_the_document_over_the_api(
    make_client: Any, publish: Any, tenant: str, db: Database
) -> None:
    """Over NATS and the API: a subscription made by hand, its deletion consumed before the apply taking it over."""
    async with make_client() as client:
        made = await client.post(
            "/v1/subscriptions",
            json={
                "name": HOOK,
                "event_types": ["slm.measurement.objective.burn_alert.v1"],
                "target": {"url": "https://by-hand.example.com"},
            },
        )
        assert made.status_code == 201, made.text
        base = utcnow() + timedelta(seconds=5)  # after the subscription's last change over the API
        await publish(removed(tenant, HOOK).model_copy(update={"time": base + timedelta(seconds=10)}))

        async def remembered() -> bool:  # consumed: the deletion found no subscription of the documents yet
            async with db.session(read_only=True) as session:
                return await session.get(RemovedSubscription, (tenant, HOOK)) is not None

        await wait_until(remembered)

        async def listed() -> dict[str, Any]:
            return {s["name"]: s for s in (await client.get("/v1/subscriptions")).json()["items"]}

        await publish(applied(tenant, "https://hooks.example.com").model_copy(update={"time": base}))
        await wait_until(lambda: _has(listed, PAGE))  # the apply is consumed: it subscribed the other target
        hook = (await listed())[HOOK]
        assert hook["id"] == made.json()["id"] and hook["enabled"] is False
        assert hook["disabled_reason"] == "OpenSLO document deleted: SLO orders-fast"
        assert hook["target"]["url"] == "https://hooks.example.com/hook"


async def _has(listed: Any, name: str) -> bool:
    return name in await listed()


async def test_a_deletion_consumed_while_a_newer_apply_is_uncommitted_waits_for_it(
    postgres_url: str, tenant: str
) -> None:
    """Two replicas: one holds a newer apply's transaction open while the other consumes the older deletion."""
    await upgrade("slm_notifier", postgres_url)
    one, two = Database(postgres_url), Database(postgres_url)
    try:
        base = applied(tenant, "https://hooks.example.com")
        await consume(one, base)
        async with one.session() as session:
            await on_openslo_applied(session, at(applied(tenant, "https://hooks.example.com/moved"), 20))
            deletion = asyncio.create_task(consume(two, at(removed(tenant, HOOK), 10)))
            await asyncio.sleep(1)  # the deletion has read what it reads before this apply commits
            assert not deletion.done()
        await deletion
        assert (await enabled(one, tenant))[HOOK] is True  # the newer apply stands
        [hook] = [s for s in await held(one, tenant) if s.name == HOOK]
        assert hook.target == {"url": "https://hooks.example.com/moved/hook"}
    finally:
        await one.dispose()
        await two.dispose()


async def test_a_subscription_made_over_the_api_after_the_deletion_was_consumed_is_not_taken_by_an_older_apply(
    db: Database, tenant: str
) -> None:
    """Reversed: the deletion is consumed, staff subscribe the name over the API, then the older apply arrives."""
    base = applied(tenant, "https://doc-host.example.com").model_copy(update={"time": utcnow() + timedelta(seconds=5)})
    await consume(db, removed(tenant, HOOK).model_copy(update={"time": base.time + timedelta(seconds=10)}))
    async with db.session() as session:
        made = SubscriptionCreate(
            name=HOOK,
            event_types=["slm.measurement.objective.burn_alert.v1"],
            target={"url": "https://api-host.example.com"},
        )
        await service.create_subscription(session, tenant=tenant, data=made)
    await consume(db, base)
    [hook] = [s for s in await held(db, tenant) if s.name == HOOK]
    assert (hook.target["url"], hook.enabled, hook.applied_at) == ("https://api-host.example.com/", True, None)
    newer = base.model_copy(update={"time": base.time + timedelta(seconds=20)})
    await consume(db, newer)  # an apply newer than the deletion takes it over as any
    [hook] = [s for s in await held(db, tenant) if s.name == HOOK]
    assert (hook.target["url"], hook.enabled) == ("https://doc-host.example.com/hook", True)
