"""The transactional outbox and its relay against the real NATS server, on SQLite and PostgreSQL: rows read from
the table, published once, retried (the hand-over from the commit: test_outbox_hand_over.py)."""

from __future__ import annotations

import asyncio

import nats
import pytest
from bus_helpers import apply_effect, count_effects, outbox_sent, service_event, unique_consumer, wait_until
from sqlalchemy import func, select, update

from slm_shared.bus import Bus, Consumer, OutboxMessage, OutboxRelay, record_event
from slm_shared.contracts import EVENTS
from slm_shared.db import Database


async def test_event_is_written_with_the_change_and_relayed_after_commit(db: Database, bus: Bus) -> None:
    relay = OutboxRelay(db, bus)
    async with db.session() as session:
        event = record_event(session, EVENTS.service_created, tenant="acme", data=service_event("billing"))
    assert await relay.relay_once() >= 1
    async with db.session() as session:
        row = await session.scalar(select(OutboxMessage).where(OutboxMessage.event_id == event.id))
    assert row is not None and row.sent_at is not None

    message = await bus.js.get_last_msg("SLM_CATALOG", "slm.catalog.service.created")
    assert message.headers is not None
    assert message.headers["ce-id"] == event.id
    assert message.headers["Nats-Msg-Id"] == event.id


async def test_rolled_back_change_publishes_nothing(db: Database, bus: Bus) -> None:
    with pytest.raises(RuntimeError):
        async with db.session() as session:
            record_event(session, EVENTS.service_created, tenant="acme", data=service_event("ghost"))
            raise RuntimeError("the change fails")
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(OutboxMessage)) == 0


async def test_relay_dying_after_publish_causes_no_duplicate_effect(db: Database, bus: Bus) -> None:
    consumer = Consumer(db, bus, name=unique_consumer(), handlers={EVENTS.service_created.type: apply_effect})
    task = asyncio.create_task(consumer.run())
    try:
        async with db.session() as session:
            event = record_event(session, EVENTS.service_created, tenant="acme", data=service_event("crash"))
        relay = OutboxRelay(db, bus)
        assert await relay.relay_once() >= 1
        # Simulate a relay that died after the acknowledgement but before marking the row sent.
        async with db.session() as session:
            await session.execute(update(OutboxMessage).where(OutboxMessage.event_id == event.id).values(sent_at=None))
        restarted = OutboxRelay(db, bus)
        assert await restarted.relay_once() == 0  # published again, but JetStream held it: not counted
        assert (restarted.published, restarted.duplicates) == (0, 1)
        assert await outbox_sent(db, event.id)  # and marked sent
        await wait_until(lambda: _has_effect(db, event.id))
        await asyncio.sleep(0.5)
        assert await count_effects(db, event.id) == 1
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)  # ended before the database is disposed


async def test_a_full_batch_holding_a_copy_jetstream_already_held_is_followed_by_the_next_at_once(
    db: Database, bus: Bus
) -> None:
    """A full read of the table means more may wait: the relay reads again at once, not after a poll, even
    when some of the batch were copies JetStream dropped (a relay that died after publishing, before marking)."""
    async with db.session() as session:
        first = record_event(session, EVENTS.service_created, tenant="acme", data=service_event("held"))
    assert await OutboxRelay(db, bus, hand_over=False).relay_once() == 1
    async with db.session() as session:  # published, then the relay died before its mark
        await session.execute(update(OutboxMessage).where(OutboxMessage.event_id == first.id).values(sent_at=None))
        later = [
            record_event(session, EVENTS.service_created, tenant="acme", data=service_event(f"next-{n}"))
            for n in range(3)
        ]
    relay = OutboxRelay(db, bus, batch_size=2, poll_seconds=60, hand_over=False)
    running = asyncio.create_task(relay.run())
    try:
        for event in (first, *later):  # two full batches (one holding the copy), then the last row
            await wait_until(lambda event=event: outbox_sent(db, event.id), timeout=20)
        assert (relay.published, relay.duplicates) == (3, 1)
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)


async def _has_effect(db: Database, event_id: str) -> bool:
    return await count_effects(db, event_id) >= 1


async def test_relay_retries_while_nats_is_down(db: Database, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from slm_shared.testing.nats_server import NatsServer

    server = NatsServer(tmp_path / "nats").start()
    bus = Bus(server.url, name="relay-test")
    await bus.connect(attempts=20)
    await bus.ensure_platform_streams()
    relay = OutboxRelay(db, bus, poll_seconds=0.1, publish_timeout=0.5)
    task = asyncio.create_task(relay.run())
    try:
        server.kill()
        async with db.session() as session:
            event = record_event(session, EVENTS.service_created, tenant="acme", data=service_event("outage"))
        relay.wake()
        await asyncio.sleep(1.5)
        async with db.session() as session:
            row = await session.scalar(select(OutboxMessage).where(OutboxMessage.event_id == event.id))
        assert row is not None and row.sent_at is None

        server.start()

        async def sent() -> bool:
            async with db.session(read_only=True) as session:  # a reader never waits for the consumer
                found = await session.scalar(select(OutboxMessage.sent_at).where(OutboxMessage.event_id == event.id))
                return found is not None

        await wait_until(sent, timeout=30)
        nc = await nats.connect(server.url)
        try:
            info = await nc.jetstream().stream_info("SLM_CATALOG")
            assert info.state.messages == 1
        finally:
            await nc.close()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)  # ended before the database is disposed
        await bus.close()
        server.stop()
