"""A consumer batch writes the deliveries of all its events in one statement, and a failing event's deliveries
are rolled back with it while the rest of the batch is delivered, each once, under its own webhook-id."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, NamedTuple

import pytest
from conftest import objective_status, wait_until
from receivers import Receiver
from sqlalchemy import event, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Insert

from slm_notifier.config import Settings
from slm_notifier.events import on_objective_status
from slm_notifier.models import SUCCEEDED, Delivery, Subscription
from slm_notifier.queued import queue_deliveries, write_queued
from slm_notifier.service import delivery_row
from slm_notifier.signing import new_secret
from slm_notifier.worker import DeliveryWorker
from slm_shared.bus import Bus, Consumer, DeadLetter
from slm_shared.contracts import EVENTS, CloudEvent
from slm_shared.db import Database, utcnow
from slm_shared.migrations import upgrade
from slm_shared.testing.databases import migrated_database
from slm_shared.testing.nats_server import NatsServer

EVENTS_IN_BATCH = 20


@contextlib.asynccontextmanager
async def notifier_parts(database_url: str, nats_server: NatsServer) -> AsyncIterator[tuple[Database, Bus]]:
    """The notifier's migrated database with its delivery worker running, and a bus to publish and consume."""
    await upgrade("slm_notifier", database_url)
    db = Database(database_url)
    bus = Bus(nats_server.url, name="test-batched-deliveries")
    await bus.connect(attempts=5)
    await bus.ensure_platform_streams()
    settings = Settings(database_url=database_url, environment="test", allow_private_targets=True)
    worker = asyncio.create_task(DeliveryWorker(db, settings).run())
    try:
        yield db, bus
    finally:
        worker.cancel()
        await asyncio.gather(worker, return_exceptions=True)
        await bus.close()
        await db.dispose()


async def subscribe(db: Database, tenant: str, url: str, **fields: Any) -> None:
    """A webhook subscription of `tenant` to every measurement event, sent to `url`."""
    async with db.session() as session:
        session.add(
            Subscription(
                tenant=tenant, name="ops", event_types=["slm.measurement.*"], target={"url": url}, secret=new_secret(),
                **fields,
            )
        )  # fmt: skip


class Delivering(NamedTuple):
    """A loopback webhook receiver subscribed for the test's tenant, and the notifier's parts sending to it."""

    receiver: Receiver
    db: Database
    bus: Bus


@pytest.fixture
async def delivering(database_url: str, nats_server: NatsServer, tenant: str) -> AsyncIterator[Delivering]:
    """A loopback webhook receiver subscribed for the tenant; the notifier's delivery worker sending to it."""
    async with Receiver() as receiver, notifier_parts(database_url, nats_server) as (db, bus):
        await subscribe(db, tenant, receiver.url())
        yield Delivering(receiver, db, bus)


@pytest.fixture
async def db(database_url: str, tenant: str) -> AsyncIterator[Database]:
    """The notifier's migrated database with subscription `sub-1` of the test's tenant (see `delivery`), no worker."""
    async with migrated_database("slm_notifier", database_url) as database:
        await subscribe(database, tenant, "http://127.0.0.1:9/", id="sub-1")
        yield database


def batch_consumer(
    delivering: Delivering, handler: Callable[[AsyncSession, CloudEvent], Awaitable[None]], **options: Any
) -> Consumer:
    """A consumer of its own (a new durable) handling breaches with `handler`."""
    name, handlers = f"test-{uuid.uuid4().hex[:8]}", {EVENTS.objective_breached.type: handler}
    return Consumer(delivering.db, delivering.bus, name=name, handlers=handlers, **options)


@contextlib.asynccontextmanager
async def consuming(consumer: Consumer) -> AsyncIterator[None]:
    """The consumer running until the block ends."""
    task = asyncio.create_task(consumer.run())
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def delivery(tenant: str, n: int) -> dict[str, Any]:
    """A delivery row to `sub-1` of a breach of objective obj-`n`."""
    item = EVENTS.objective_breached.build(tenant=tenant, data=objective_status(objective_id=f"obj-{n}"))
    return delivery_row(item, "sub-1", utcnow())


async def backlog(bus: Bus, consumer: Consumer, tenant: str) -> list[CloudEvent]:
    """Breaches of distinct objectives published before the consumer runs, so they come in fetched batches."""
    stream, subjects = next(iter(consumer.subscriptions().items()))
    await consumer._ensure_consumer(stream, subjects)
    events = [
        EVENTS.objective_breached.build(
            tenant=tenant, data=objective_status(agreement_id=f"agr-{n}", objective_id=f"obj-{n}")
        )
        for n in range(EVENTS_IN_BATCH)
    ]
    for item in events:
        headers = {**item.headers(), "Nats-Msg-Id": item.id}
        await bus.js.publish(EVENTS.objective_breached.subject, json.dumps(item.data).encode(), headers=headers)
    return events


def delivery_inserts(db: Database, tenant: str) -> list[list[dict[str, Any]]]:
    """The rows of `tenant` sent by each INSERT into deliveries from now on (whether it then failed or not)."""
    sent: list[list[dict[str, Any]]] = []

    @event.listens_for(db.engine.sync_engine, "before_execute")
    def _capture(_conn: Any, clause: Any, multiparams: Any, params: Any, _options: Any) -> None:
        if isinstance(clause, Insert) and clause.table.name == "deliveries":
            rows = multiparams if isinstance(multiparams, list | tuple) and multiparams else [params]
            flat = [row for item in rows for row in (item if isinstance(item, list) else [item])]
            ours = [dict(row) for row in flat if isinstance(row, dict) and row.get("tenant") == tenant]
            if ours:
                sent.append(ours)

    return sent


async def stored(db: Database, tenant: str) -> list[Delivery]:
    async with db.session(read_only=True) as session:
        return list((await session.scalars(select(Delivery).where(Delivery.tenant == tenant))).all())


async def test_a_fetched_batch_writes_its_deliveries_in_one_statement_and_each_is_sent_once(
    delivering: Delivering, tenant: str
) -> None:
    receiver, db, bus = delivering
    consumer = batch_consumer(delivering, on_objective_status)
    events = await backlog(bus, consumer, tenant)
    sent = delivery_inserts(db, tenant)
    async with consuming(consumer):
        await receiver.wait_for(EVENTS_IN_BATCH)

        async def all_succeeded() -> bool:
            return [d.status for d in await stored(db, tenant)] == [SUCCEEDED] * EVENTS_IN_BATCH

        await wait_until(all_succeeded)
    inserts = [len(rows) for rows in sent]  # rows of the tenant written by each INSERT
    assert sum(inserts) == EVENTS_IN_BATCH
    # one statement per fetched batch, not one per event (the first fetch takes a single message, and the
    # stream's older events of other tests may split the rest)
    assert len(inserts) <= EVENTS_IN_BATCH // 4 and max(inserts) >= EVENTS_IN_BATCH // 2, inserts
    deliveries = await stored(db, tenant)
    assert sorted(d.event_id for d in deliveries) == sorted(e.id for e in events)
    await asyncio.sleep(0.3)
    ids = [request.headers["webhook-id"] for request in receiver.requests]
    assert sorted(ids) == sorted(d.id for d in deliveries)  # each sent once, under its delivery's id


async def test_a_failing_event_in_a_batch_loses_its_deliveries_alone(delivering: Delivering, tenant: str) -> None:
    receiver, db, bus = delivering
    poison: set[str] = set()

    async def fails_after_fan_out(session: AsyncSession, item: CloudEvent) -> None:
        await on_objective_status(session, item)  # its deliveries are written (or kept for the commit)
        if item.id in poison:
            raise RuntimeError("failed after fanning out")

    consumer = batch_consumer(delivering, fails_after_fan_out, max_deliveries=2, retry_delay=0.05)
    events = await backlog(bus, consumer, tenant)
    poison.add(events[7].id)
    inserts = delivery_inserts(db, tenant)
    async with consuming(consumer):

        async def settled() -> bool:
            async with db.session(read_only=True) as session:
                letters = await session.scalar(
                    select(func.count()).select_from(DeadLetter).where(DeadLetter.event_id == events[7].id)
                )
            return letters == 1 and len(await stored(db, tenant)) == EVENTS_IN_BATCH - 1

        await wait_until(settled, timeout=30)
        await receiver.wait_for(EVENTS_IN_BATCH - 1)
    deliveries = await stored(db, tenant)
    assert sorted(d.event_id for d in deliveries) == sorted(e.id for e in events if e.id not in poison)
    # the rows the batch's first run saved for its commit were dropped with its rollback without reaching
    # the database: every row sent in an INSERT is stored, but for the failing event's (rolled back in
    # its savepoint, each time it ran)
    sent = [row for rows in inserts for row in rows]
    assert {row["id"] for row in sent if row["event_id"] not in poison} == {d.id for d in deliveries}
    assert len(sent) == len(deliveries) + sum(row["event_id"] in poison for row in sent)
    await asyncio.sleep(0.3)
    assert len(receiver.requests) == EVENTS_IN_BATCH - 1  # nothing sent for the event that failed


async def test_a_batch_whose_insert_fails_at_commit_goes_one_by_one_and_the_conflicting_event_alone_is_lost(
    delivering: Delivering, tenant: str
) -> None:
    receiver, db, bus = delivering
    async with db.session(read_only=True) as session:
        subscription_id = await session.scalar(select(Subscription.id).where(Subscription.tenant == tenant))
    consumer = batch_consumer(delivering, on_objective_status, max_deliveries=2, retry_delay=0.05)
    events = await backlog(bus, consumer, tenant)
    conflicting = events[7]
    # a delivery of that event to that subscription at level 1 exists already (done, so not sent again):
    # the rows saved for the batch's commit fail there on (event_id, subscription_id, escalation_level)
    existing = {**delivery_row(conflicting, str(subscription_id), utcnow()), "status": SUCCEEDED}
    async with db.session() as session:
        await session.execute(insert(Delivery.__table__), [existing])  # type: ignore[attr-defined]
    inserts = delivery_inserts(db, tenant)
    async with consuming(consumer):

        async def settled() -> bool:
            async with db.session(read_only=True) as session:
                letters = await session.scalar(
                    select(func.count()).select_from(DeadLetter).where(DeadLetter.event_id == conflicting.id)
                )
            return letters == 1 and len(await stored(db, tenant)) == EVENTS_IN_BATCH

        await wait_until(settled, timeout=30)
        await receiver.wait_for(EVENTS_IN_BATCH - 1)
    async with db.session(read_only=True) as session:
        letter = await session.scalar(select(DeadLetter).where(DeadLetter.event_id == conflicting.id))
    assert letter is not None and letter.deliveries == 2, letter  # retried once alone, then dead-lettered
    deliveries = await stored(db, tenant)
    new = [d for d in deliveries if d.id != existing["id"]]
    assert sorted(d.event_id for d in new) == sorted(e.id for e in events if e.id != conflicting.id)
    # the batch's commit-time INSERT carried the conflicting row with the others' and failed whole: none of
    # its rows is stored, and the rows the worker had taken to send after that commit were not sent
    batch = next(rows for rows in inserts if conflicting.id in {row["event_id"] for row in rows})
    assert len(batch) > 1 and not {row["id"] for row in batch} & {d.id for d in deliveries}, batch
    await asyncio.sleep(0.3)
    ids = [request.headers["webhook-id"] for request in receiver.requests]
    assert sorted(ids) == sorted(d.id for d in new)  # the others, each sent once under its stored id


async def test_rows_kept_for_the_commit_go_with_a_rollback_and_a_savepoint_keeps_its_own(
    db: Database, tenant: str
) -> None:
    kept, dropped, later, in_savepoint, rolled_back = (delivery(tenant, n) for n in range(1, 6))
    reused = db.sessionmaker()
    try:
        with contextlib.suppress(RuntimeError):
            async with reused.begin():
                await queue_deliveries(reused, [dropped])
                raise RuntimeError("the transaction failed")
        async with reused.begin():  # the same session's next transaction writes none of the first's rows
            await queue_deliveries(reused, [kept])
    finally:
        await reused.close()
    async with db.session() as session:
        await queue_deliveries(session, [later])
        with contextlib.suppress(RuntimeError):
            async with session.begin_nested():
                await queue_deliveries(session, [rolled_back])
                raise RuntimeError("the event's handler failed")
        async with session.begin_nested():  # released: its row stays, and the outer one is still kept
            await queue_deliveries(session, [in_savepoint])
        await write_queued(session)  # a read in the same transaction sees the rows kept so far
        seen = set((await session.scalars(select(Delivery.id).where(Delivery.tenant == tenant))).all())
        assert seen == {kept["id"], later["id"], in_savepoint["id"]}
    assert {d.id for d in await stored(db, tenant)} == {kept["id"], later["id"], in_savepoint["id"]}


async def test_rows_kept_for_the_commit_are_written_when_it_finds_a_savepoint_still_open(
    db: Database, tenant: str
) -> None:
    kept, in_savepoint, released_then_kept = delivery(tenant, 3), delivery(tenant, 4), delivery(tenant, 5)
    async with db.session() as session:
        await queue_deliveries(session, [kept])  # kept for the commit
        await session.begin_nested()  # no context manager: still open when the outer transaction commits
        await queue_deliveries(session, [in_savepoint])  # written at once, inside the savepoint
    assert {d.id for d in await stored(db, tenant)} == {kept["id"], in_savepoint["id"]}

    async with db.session() as session:  # a savepoint released before, another left open at the commit
        async with session.begin_nested():
            pass
        await queue_deliveries(session, [released_then_kept])
        await session.begin_nested()
    assert {d.id for d in await stored(db, tenant)} == {kept["id"], in_savepoint["id"], released_then_kept["id"]}
