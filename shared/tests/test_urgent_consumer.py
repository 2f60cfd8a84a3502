"""Which of an urgent consumer's events take SQLite's urgent writer turn: an event fetched on its own does, and so
does the part of a batch ending with its first waited-on event (someone waits on it; one turn a batch); the rest of
a batch does not, neither in its transaction nor on its own after it failed, and nor does a replayed dead letter (a
backlog must not hold back the writers that work it off)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from bus_helpers import apply_effect, count_effects, service_event
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel
from test_waited_on_events import FOLLOWER, WAITED_ON, fetched_batch

from slm_shared.bus import Bus, Consumer, DeadLetter
from slm_shared.bus.dead_letters import replay
from slm_shared.contracts import EVENTS, CloudEvent
from slm_shared.contracts.registry import STREAMS
from slm_shared.db import Database

STREAM = STREAMS[EVENTS.service_created.producer].name


class ObservedDatabase(Database):
    """A real database whose write transactions carry the urgency they asked for (for the handler to see)."""

    @asynccontextmanager
    async def session(self, *, read_only: bool = False, urgent: bool = False) -> AsyncIterator[AsyncSession]:
        async with super().session(read_only=read_only, urgent=urgent) as session:
            session.info["asked_urgent"] = urgent
            yield session


async def test_only_an_event_fetched_on_its_own_is_applied_as_an_urgent_writer(sqlite_url: str, bus: Bus) -> None:
    import slm_shared.bus.models  # noqa: F401

    db = ObservedDatabase(sqlite_url)
    async with db.engine.begin() as connection:
        await connection.run_sync(SQLModel.metadata.create_all)
    seen: list[tuple[str, object]] = []  # (service key, urgency of the transaction applying it)
    failing = {"poison"}

    async def handler(session: AsyncSession, event: CloudEvent) -> None:
        seen.append((event.data["key"], session.info["asked_urgent"]))
        if event.data["key"] in failing:
            raise ValueError("downstream rejected it")
        await apply_effect(session, event)

    name = f"urgent-{id(db):x}"
    consumer = Consumer(
        db, bus, name=name, handlers={EVENTS.service_created.type: handler}, max_deliveries=1, urgent=True
    )
    try:
        await bus.ensure_platform_streams()
        await bus.js.add_consumer(
            STREAM,
            ConsumerConfig(
                durable_name=name, ack_policy=AckPolicy.EXPLICIT, deliver_policy=DeliverPolicy.NEW,
                filter_subject=EVENTS.service_created.subject,
            ),
        )  # fmt: skip
        subscription = await bus.js.pull_subscribe_bind(name, stream=STREAM)

        async def publish(*keys: str) -> list[CloudEvent]:
            events = [EVENTS.service_created.build(tenant="acme", data=service_event(key)) for key in keys]
            for event in events:
                await bus.js.publish(
                    EVENTS.service_created.subject, json.dumps(event.data).encode(), headers=event.headers()
                )
            return events

        async def fetch(count: int) -> list:  # type: ignore[type-arg]
            messages: list = []  # type: ignore[type-arg]
            while len(messages) < count:
                messages += await subscription.fetch(count - len(messages), timeout=5)
            return messages

        # a batch with an event whose handler fails: the batch, once more with savepoints, then that event alone
        batch = await publish("a", "poison", "b", "c")
        await consumer.handle_batch(await fetch(4), STREAM)
        assert [await count_effects(db, event.id) for event in batch] == [1, 0, 1, 1]
        assert [key for key, _ in seen].count("poison") >= 3, seen  # in the batch twice, then alone
        assert all(urgent is False for _, urgent in seen), seen

        # its dead letter replayed: not urgent either
        async with db.session(read_only=True) as session:
            letter = await session.scalar(select(DeadLetter).where(DeadLetter.event_id == batch[1].id))
        assert letter is not None
        failing.clear()
        seen.clear()
        await replay(consumer, letter)
        assert seen == [("poison", False)]
        assert await count_effects(db, batch[1].id) == 1

        # an event fetched on its own: urgent
        seen.clear()
        (alone,) = await publish("alone")
        await consumer.handle_batch(await fetch(1), STREAM)
        assert seen == [("alone", True)]
        assert await count_effects(db, alone.id) == 1
    finally:
        await db.dispose()


@pytest.mark.parametrize(
    ("kinds", "urgent"),
    [
        ("FWFWF", [True, True, False, False, False]),  # cut after k1: [k0 k1] urgent, [k2 k3 k4] not
        ("FW", [True, True]),  # the waited-on event ends the batch: no cut, the whole batch urgent
    ],
)
async def test_the_part_of_a_batch_ending_with_its_first_waited_on_event_is_urgent(
    kinds: str, urgent: list[bool], sqlite_url: str, bus: Bus
) -> None:
    import slm_shared.bus.models  # noqa: F401

    db = ObservedDatabase(sqlite_url)
    async with db.engine.begin() as connection:
        await connection.run_sync(SQLModel.metadata.create_all)
    seen: list[tuple[str, object]] = []  # (service key, urgency of the transaction applying it)

    async def handler(session: AsyncSession, event: CloudEvent) -> None:
        seen.append((event.data["key"], session.info["asked_urgent"]))
        await apply_effect(session, event)

    name = f"urgent-part-{id(db):x}"
    consumer = Consumer(
        db,
        bus,
        name=name,
        handlers={WAITED_ON.type: handler, FOLLOWER.type: handler},
        urgent=True,
        waited_on={WAITED_ON.type},
    )
    try:
        specs = [WAITED_ON if kind == "W" else FOLLOWER for kind in kinds]
        events, messages = await fetched_batch(bus, name, specs)

        await consumer.handle_batch(messages, STREAM)

        assert seen == [(f"k{n}", flag) for n, flag in enumerate(urgent)]
        assert [await count_effects(db, event.id) for event in events] == [1] * len(events)
    finally:
        await db.dispose()
