"""A batch commits just after its first event of a type someone waits on (a breach): what that event caused goes out
before the events after it in the batch are applied; the rest is one transaction, however many waited-on events it
holds (a breach storm), and every event is still applied once, in order."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from bus_helpers import apply_effect, count_effects, service_event
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from sqlalchemy import event as sa_event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel

from slm_shared.bus import Bus, Consumer
from slm_shared.contracts import EVENTS, CloudEvent
from slm_shared.contracts.envelope import EventSpec
from slm_shared.contracts.registry import STREAMS
from slm_shared.db import Database

STREAM = STREAMS[EVENTS.service_created.producer].name
WAITED_ON, FOLLOWER = EVENTS.service_created, EVENTS.service_updated


async def _database(database_url: str) -> Database:
    import slm_shared.bus.models  # noqa: F401

    db = Database(database_url)
    async with db.engine.begin() as connection:
        await connection.run_sync(SQLModel.metadata.create_all)
    return db


async def fetched_batch(bus: Bus, name: str, specs: list[EventSpec]) -> tuple[list[CloudEvent], list[Msg]]:
    """The events of `specs` published in order and fetched back as one batch by the durable consumer `name`."""
    await bus.ensure_platform_streams()
    await bus.js.add_consumer(
        STREAM,
        ConsumerConfig(
            durable_name=name, ack_policy=AckPolicy.EXPLICIT, deliver_policy=DeliverPolicy.NEW,
            filter_subjects=[WAITED_ON.subject, FOLLOWER.subject],
        ),
    )  # fmt: skip
    subscription = await bus.js.pull_subscribe_bind(name, stream=STREAM)
    published = [spec.build(tenant="acme", data=service_event(f"k{n}")) for n, spec in enumerate(specs)]
    for spec, event in zip(specs, published, strict=True):
        await bus.js.publish(spec.subject, json.dumps(event.data).encode(), headers=event.headers())
    messages: list[Msg] = []
    while len(messages) < len(published):
        messages += await subscription.fetch(len(published) - len(messages), timeout=5)
    return published, messages


@contextmanager
def commits(db: Database) -> Iterator[list[None]]:
    """The transactions committed on the database meanwhile (one item each)."""
    committed: list[None] = []

    def count(_connection: object) -> None:
        committed.append(None)

    sa_event.listen(db.engine.sync_engine, "commit", count)
    try:
        yield committed
    finally:
        sa_event.remove(db.engine.sync_engine, "commit", count)


async def test_a_batch_commits_after_its_first_event_someone_waits_on(database_url: str, bus: Bus) -> None:
    db = await _database(database_url)
    order: list[str] = []
    committed_before: dict[str, int] = {}  # follower key -> waited-on effects committed when it was applied

    async def waited_on(session: AsyncSession, event: CloudEvent) -> None:
        order.append(event.data["key"])
        await apply_effect(session, event)

    async def follower(session: AsyncSession, event: CloudEvent) -> None:
        order.append(event.data["key"])
        committed_before[event.data["key"]] = sum([await count_effects(db, e.id) for e in published[:3:2]])
        await apply_effect(session, event)

    name = f"waited-{id(db):x}"
    consumer = Consumer(
        db, bus, name=name, handlers={WAITED_ON.type: waited_on, FOLLOWER.type: follower}, waited_on={WAITED_ON.type}
    )
    try:
        published, messages = await fetched_batch(bus, name, [WAITED_ON, FOLLOWER, WAITED_ON, FOLLOWER, FOLLOWER])

        await consumer.handle_batch(messages, STREAM)  # one fetched batch: [k0] [k1 k2 k3 k4]

        assert order == ["k0", "k1", "k2", "k3", "k4"]
        assert committed_before == {"k1": 1, "k3": 1, "k4": 1}  # k0 out before the rest; k2 with the rest
        assert [await count_effects(db, event.id) for event in published] == [1] * 5
        assert consumer.applied == 5
    finally:
        await db.dispose()


async def test_a_storm_of_waited_on_events_takes_two_transactions(database_url: str, bus: Bus) -> None:
    db = await _database(database_url)
    order: list[str] = []

    async def handler(session: AsyncSession, event: CloudEvent) -> None:
        order.append(event.data["key"])
        await apply_effect(session, event)

    name = f"storm-{id(db):x}"
    consumer = Consumer(
        db, bus, name=name, handlers={WAITED_ON.type: handler, FOLLOWER.type: handler}, waited_on={WAITED_ON.type}
    )
    try:
        published, messages = await fetched_batch(bus, name, [FOLLOWER, WAITED_ON] * 10)  # a breach, its burn alert...

        with commits(db) as committed:
            await consumer.handle_batch(messages, STREAM)

        assert len(committed) == 2, "one transaction up to the first waited-on event, one for the rest"
        assert order == [f"k{n}" for n in range(20)]
        assert [await count_effects(db, event.id) for event in published] == [1] * 20
        assert consumer.applied == 20
    finally:
        await db.dispose()


async def test_a_waited_on_type_without_a_handler_is_refused(sqlite_url: str, bus: Bus) -> None:
    db = Database(sqlite_url)

    async def handler(session: AsyncSession, event: CloudEvent) -> None:
        await apply_effect(session, event)

    typo = "slm.catalog.service.creatd.v1"
    try:
        with pytest.raises(ValueError, match=re.escape(typo)):
            Consumer(db, bus, name="typo", handlers={WAITED_ON.type: handler}, waited_on={WAITED_ON.type, typo})
    finally:
        await db.dispose()
