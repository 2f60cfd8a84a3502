"""Applied OpenSLO targets as subscriptions: created once, changed in place, never two for one name."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import select

from slm_notifier.itsm.pagerduty import EVENTS_URL
from slm_notifier.models import Subscription
from slm_notifier.openslo import on_openslo_applied
from slm_shared.contracts import EVENTS, CloudEvent
from slm_shared.contracts.payloads import OpenSLOAppliedV1
from slm_shared.db import Database
from slm_shared.migrations import upgrade
from slm_shared.terms.openslo_credentials import tenant_variable_prefix

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


async def test_a_newer_apply_wins_whichever_order_the_two_are_consumed_in(database_url: str, tenant: str) -> None:
    await upgrade("slm_notifier", database_url)
    db = Database(database_url)
    try:
        for order in ("in-order", "reversed"):
            at = f"{tenant}-{order}"
            older = applied(at, "https://hooks.example.com/older")
            newer = applied(at, "https://hooks.example.com/newer")  # both built before either is consumed
            assert older.time < newer.time
            for event in (older, newer) if order == "in-order" else (newer, older):
                await consume(db, event)
            [subscription] = await held(db, at)
            assert subscription.target == {"url": "https://hooks.example.com/newer"}, order
            assert subscription.applied_at == newer.time
    finally:
        await db.dispose()


def pager(tenant: str, variable: str) -> CloudEvent:
    target: dict[str, Any] = {
        "name": "openslo:pager:orders",
        "service_key": "orders",
        "channel": "pagerduty",
        "target": {"url": "https://attacker.example/"},
        "secret_env": variable,
    }
    data = OpenSLOAppliedV1.model_validate({"notification_targets": [target]})
    return EVENTS.openslo_applied.build(tenant=tenant, data=data, subject=tenant)


async def test_a_routing_key_is_read_only_for_its_tenant_and_sent_only_to_the_configured_events_api(
    database_url: str, tenant: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    await upgrade("slm_notifier", database_url)
    acme, other, acme_x = f"{tenant}-acme", f"{tenant}-other", f"{tenant}-acme-x"
    acme_key = f"{tenant_variable_prefix('pagerduty', acme)}ONCALL"
    monkeypatch.setenv(acme_key, "ACME-ROUTING-KEY")
    monkeypatch.setenv(f"{tenant_variable_prefix('pagerduty', acme_x)}ONCALL", "ACME-X-ROUTING-KEY")
    monkeypatch.delenv("NOTIFIER_PAGERDUTY_EVENTS_URL", raising=False)
    db = Database(database_url)
    try:
        await consume(db, pager(other, acme_key))  # another tenant names acme's variable: not read
        assert await held(db, other) == []
        # acme names acme-x's variable (its prefix, then X_ONCALL): not read either
        await consume(db, pager(acme, f"{tenant_variable_prefix('pagerduty', acme)}X_ONCALL"))
        assert await held(db, acme) == []
        await consume(db, pager(acme, acme_key))
        [subscription] = await held(db, acme)
        assert subscription.target == {"routing_key": "ACME-ROUTING-KEY", "url": EVENTS_URL}
        monkeypatch.setenv("NOTIFIER_PAGERDUTY_EVENTS_URL", "https://events.internal.example/v2/enqueue")
        await consume(db, pager(acme, acme_key))
        [moved] = await held(db, acme)
        assert moved.target == {"routing_key": "ACME-ROUTING-KEY", "url": "https://events.internal.example/v2/enqueue"}
        monkeypatch.delenv(acme_key)  # no longer in the environment: the stored key stays, where it went
        await consume(db, pager(acme, acme_key))
        [kept] = await held(db, acme)
        assert kept.target == moved.target
    finally:
        await db.dispose()


async def test_tenants_whose_ids_upper_case_alike_never_read_each_others_key(
    database_url: str, tenant: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    await upgrade("slm_notifier", database_url)
    hyphen, underscore, upper = f"{tenant}-acme-x", f"{tenant}_acme_x", f"{tenant}-ACME-X"
    key = f"{tenant_variable_prefix('pagerduty', hyphen)}ONCALL"  # SLM_PAGERDUTY_T..._ACME_X_ONCALL
    spelled = upper.upper().replace("-", "_")
    assert key == f"SLM_PAGERDUTY_{underscore.upper()}_ONCALL" == f"SLM_PAGERDUTY_{spelled}_ONCALL"
    monkeypatch.setenv(key, "ACME-X-ROUTING-KEY")
    db = Database(database_url)
    try:
        for other in (underscore, upper):  # the variable spelled for them is acme-x's: neither reads it
            await consume(db, pager(other, key))
            assert await held(db, other) == []
        await consume(db, pager(hyphen, key))
        [subscription] = await held(db, hyphen)
        assert subscription.target["routing_key"] == "ACME-X-ROUTING-KEY"
    finally:
        await db.dispose()
