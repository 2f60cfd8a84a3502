"""A batch commits just after each event of a type someone waits on (a breach): what that event caused goes out
before the events after it in the batch are applied, and every event is still applied once, in order."""

from __future__ import annotations

import json

from bus_helpers import apply_effect, count_effects, service_event
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel

from slm_shared.bus import Bus, Consumer
from slm_shared.contracts import EVENTS, CloudEvent
from slm_shared.contracts.registry import STREAMS
from slm_shared.db import Database

STREAM = STREAMS[EVENTS.service_created.producer].name
WAITED_ON, FOLLOWER = EVENTS.service_created, EVENTS.service_updated


async def test_a_batch_commits_after_each_event_someone_waits_on(database_url: str, bus: Bus) -> None:
    import slm_shared.bus.models  # noqa: F401

    db = Database(database_url)
    async with db.engine.begin() as connection:
        await connection.run_sync(SQLModel.metadata.create_all)
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
        db,
        bus,
        name=name,
        handlers={WAITED_ON.type: waited_on, FOLLOWER.type: follower},
        waited_on={WAITED_ON.type},
    )
    try:
        await bus.ensure_platform_streams()
        await bus.js.add_consumer(
            STREAM,
            ConsumerConfig(
                durable_name=name, ack_policy=AckPolicy.EXPLICIT, deliver_policy=DeliverPolicy.NEW,
                filter_subjects=[WAITED_ON.subject, FOLLOWER.subject],
            ),
        )  # fmt: skip
        subscription = await bus.js.pull_subscribe_bind(name, stream=STREAM)
        specs = [WAITED_ON, FOLLOWER, WAITED_ON, FOLLOWER, FOLLOWER]
        published = [spec.build(tenant="acme", data=service_event(f"k{n}")) for n, spec in enumerate(specs)]
        for spec, event in zip(specs, published, strict=True):
            await bus.js.publish(spec.subject, json.dumps(event.data).encode(), headers=event.headers())
        messages: list = []  # type: ignore[type-arg]
        while len(messages) < len(published):
            messages += await subscription.fetch(len(published) - len(messages), timeout=5)

        await consumer.handle_batch(messages, STREAM)  # one fetched batch: [k0] [k1 k2] [k3 k4]

        assert order == ["k0", "k1", "k2", "k3", "k4"]
        assert committed_before == {"k1": 1, "k3": 2, "k4": 2}
        assert [await count_effects(db, event.id) for event in published] == [1] * 5
        assert consumer.applied == 5
    finally:
        await db.dispose()
