"""A batch of status changes is told as an upsert per event would tell it: the newest per objective, each once,
with its agreement's parties; on SQLite in a few statements for the batch rather than one per event."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from conftest import agreement_activated, burn_alert, objective_status, wait_until
from sqlalchemy import event, func, select, text
from sqlmodel import col

from slm_notifier.events import HANDLERS
from slm_notifier.models import AgreementView, Delivery, ObjectiveStatusSeen, Subscription
from slm_notifier.signing import new_secret
from slm_shared.bus import Bus, Consumer, InboxMessage
from slm_shared.bus.batches import TOGETHER
from slm_shared.contracts import EVENTS, CloudEvent
from slm_shared.contracts.registry import spec_for_type
from slm_shared.testing.databases import migrated_database
from slm_shared.testing.nats_server import NatsServer

T1 = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
T2, T3 = T1 + timedelta(minutes=1), T1 + timedelta(minutes=2)


def status(tenant: str, kind: str, agreement_id: str, objective_id: str, observed_at: datetime) -> CloudEvent:
    """A status change that names no consumer party: a filter on one matches through the agreement known."""
    spec = {"breached": EVENTS.objective_breached, "at_risk": EVENTS.objective_at_risk}.get(kind)
    spec = spec or EVENTS.objective_recovered
    data = objective_status(
        agreement_id=agreement_id, objective_id=objective_id, status=kind, observed_at=observed_at,
        consumer_party_id=None,
    )  # fmt: skip
    return spec.build(tenant=tenant, data=data)


async def test_a_batch_tells_the_newest_status_of_each_objective_once(
    database_url: str, nats_server: NatsServer, tenant: str
) -> None:
    async with migrated_database("slm_notifier", database_url) as db:
        async with db.session() as session:
            session.add(
                Subscription(
                    tenant=tenant, name="acme", event_types=["slm.measurement.*"], target={"url": "http://127.0.0.1:9/"},
                    filters={"consumer_party_id": "party-acme"}, secret=new_secret(),
                )
            )  # fmt: skip
            activated = agreement_activated("agr-known")
            session.add(
                AgreementView(
                    tenant=tenant, agreement_id="agr-known", version=1, kind="SLA", name=activated.name,
                    service_key="payments", consumer_party_id="party-acme", provider_party_id="party-ops",
                )
            )  # fmt: skip
        batch = [
            told := status(tenant, "breached", "agr-known", "obj-1", T2),
            status(tenant, "at_risk", "agr-known", "obj-1", T1),  # observed before the breach: history
            status(tenant, "breached", "agr-unknown", "obj-9", T2),  # no party known: not for this subscription
            alert := EVENTS.objective_burn_alert.build(tenant=tenant, data=burn_alert(agreement_id="agr-known")),
            recovered := status(tenant, "recovered", "agr-known", "obj-1", T3),
            status(tenant, "breached", "agr-known", "obj-1", T3),  # observed no later than the recovery
            status(tenant, "at_risk", "agr-unknown", "obj-9", T1),
        ]
        bus = Bus(nats_server.url, name="test-status-runs")
        await bus.connect(attempts=5)
        await bus.ensure_platform_streams()
        consumer = Consumer(db, bus, name=f"test-{uuid.uuid4().hex[:8]}", handlers=HANDLERS)
        stream = "SLM_MEASUREMENT"
        subjects = consumer.subscriptions()[stream]
        await consumer._ensure_consumer(stream, subjects)
        for item in batch:
            headers = {**item.headers(), "Nats-Msg-Id": item.id}
            spec = spec_for_type(item.type)
            assert spec is not None
            await bus.js.publish(spec.subject, json.dumps(item.data).encode(), headers=headers)
        upserts: list[str] = []  # the writes to objective_status_seen that carry this test's statuses

        @event.listens_for(db.engine.sync_engine, "before_cursor_execute")
        def _count(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, many: bool) -> None:
            rows = parameters if many else [parameters]
            if statement.lstrip().startswith("INSERT INTO objective_status_seen") and any(
                tenant in (row.values() if isinstance(row, dict) else row) for row in rows
            ):
                upserts.append(statement)

        task = asyncio.create_task(consumer.consume(stream, subjects))

        async def all_applied() -> bool:
            async with db.session() as session:
                ours = select(func.count()).where(col(InboxMessage.event_id).in_([item.id for item in batch]))
                return (await session.scalar(ours)) == len(batch)

        try:
            await wait_until(all_applied)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await bus.close()
        async with db.session() as session:
            delivered = set(await session.scalars(select(Delivery.event_id).where(col(Delivery.tenant) == tenant)))
            seen = ObjectiveStatusSeen.__table__.c  # type: ignore[attr-defined]
            rows = await session.execute(
                select(seen.objective_id, seen.status, seen.observed_at).where(seen.tenant == tenant)
            )
            latest = {row.objective_id: (row.status, row.observed_at) for row in rows}
    assert delivered == {told.id, alert.id, recovered.id}
    assert latest == {"obj-1": ("recovered", T3), "obj-9": ("breached", T2)}
    # an upsert each: 6. Read ahead: the first event fetched comes on its own (`Fetcher`: with the stream's earlier
    # events, other tests', it may be one of these), a batch may end within these 7; per batch one write at the
    # commit, and on PostgreSQL one upsert of the objectives' first statuses per run
    assert len(upserts) <= 4, upserts


async def test_replicas_reading_ahead_at_once_tell_each_status_once(postgres_url: str, tenant: str) -> None:
    """PostgreSQL: a replica's run waits on the rows another's run locked, then decides against what it committed."""
    async with migrated_database("slm_notifier", postgres_url) as db:
        async with db.session() as session:
            session.add(
                Subscription(
                    tenant=tenant, name="all", event_types=["slm.measurement.*"], target={"url": "http://127.0.0.1:9/"},
                    secret=new_secret(),
                )
            )  # fmt: skip
        first = [status(tenant, "breached", "agr-1", "obj-1", T2), status(tenant, "breached", "agr-1", "obj-2", T2)]
        second = [
            status(tenant, "at_risk", "agr-1", "obj-1", T1),  # older than the first replica's breach
            later := status(tenant, "recovered", "agr-1", "obj-1", T3),
        ]
        read_ahead, blocked = asyncio.Event(), asyncio.Event()

        async def apply(batch: list[CloudEvent], *, hold: bool) -> None:
            async with db.session() as session:
                session.info[TOGETHER] = batch
                for item in batch:
                    await HANDLERS[item.type](session, item)
                if hold:
                    read_ahead.set()
                    await blocked.wait()

        async def waiting_on_a_lock() -> bool:
            async with db.session() as session:
                waiting = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                return bool(await session.scalar(text(waiting)))

        holding = asyncio.create_task(apply(first, hold=True))
        await read_ahead.wait()
        waiting = asyncio.create_task(apply(second, hold=False))
        await wait_until(waiting_on_a_lock)
        blocked.set()
        await asyncio.gather(holding, waiting)
        async with db.session() as session:
            delivered = set(await session.scalars(select(Delivery.event_id).where(col(Delivery.tenant) == tenant)))
            seen = ObjectiveStatusSeen.__table__.c  # type: ignore[attr-defined]
            rows = await session.execute(select(seen.objective_id, seen.status).where(seen.tenant == tenant))
            latest = dict(rows.tuples().all())
    assert delivered == {first[0].id, first[1].id, later.id}
    assert latest == {"obj-1": "recovered", "obj-2": "breached"}
