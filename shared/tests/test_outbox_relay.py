"""The transactional outbox and its relay against the real NATS server, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json

import nats
import pytest
from bus_helpers import apply_effect, count_effects, outbox_sent, seen_in, service_event, unique_consumer, wait_until
from nats.aio.msg import Msg
from sqlalchemy import event as sa_event
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


async def test_an_event_committed_while_the_relay_publishes_is_sent_without_waiting_for_the_poll(
    db: Database, bus: Bus
) -> None:
    relay = OutboxRelay(db, bus, poll_seconds=30.0)
    plain_round = relay.relay_once
    late: list[str] = []

    async def round_with_a_commit_meanwhile() -> int:
        sent = await plain_round()
        if not late:  # after this round read its rows, before it sleeps: a new event is committed
            async with db.session() as session:
                late.append(record_event(session, EVENTS.service_created, tenant="acme", data=service_event("x")).id)
        return sent

    relay.relay_once = round_with_a_commit_meanwhile  # type: ignore[method-assign]
    task = asyncio.create_task(relay.run())
    try:

        async def sent() -> bool:
            async with db.session(read_only=True) as session:
                found = await session.scalar(select(OutboxMessage.sent_at).where(OutboxMessage.event_id == late[0]))
                return found is not None

        await wait_until(lambda: _late_recorded(late))
        await wait_until(sent, timeout=10.0)  # the poll is 30 s: only the commit's wake-up gets it out
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def _late_recorded(late: list[str]) -> bool:
    return bool(late)


async def test_a_committed_event_is_published_from_the_commit_without_reading_the_outbox(
    db: Database, bus: Bus
) -> None:
    relay = OutboxRelay(db, bus, poll_seconds=30.0)
    reads = _count_reads(relay)
    task = asyncio.create_task(relay.run())
    try:
        await wait_until(lambda: _at_least(reads, 1))  # the first round reads the table; then it sleeps 30 s
        async with db.session() as session:
            event = record_event(session, EVENTS.service_created, tenant="acme", data=service_event("handed"))
        await wait_until(lambda: outbox_sent(db, event.id), timeout=10.0)
        assert len(reads) == 1  # published from the hand-over, not from a second read of the table
        message = await bus.js.get_last_msg("SLM_CATALOG", "slm.catalog.service.created")
        assert message.headers is not None and message.headers["Nats-Msg-Id"] == event.id
        assert json.loads(message.data)["key"] == "handed"
        async with db.session(read_only=True) as session:
            assert await session.scalar(select(OutboxMessage.attempts).where(OutboxMessage.event_id == event.id)) == 1
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_row_no_commit_handed_over_is_published_while_other_commits_keep_waking_the_relay(
    db: Database, bus: Bus
) -> None:
    # Another process (here a second Database, whose commits hand nothing to this relay) commits an
    # event and dies before publishing it, while this process commits an event every third of a poll.
    relay = OutboxRelay(db, bus, poll_seconds=0.6)
    other = Database(db.url)
    task = asyncio.create_task(relay.run())
    stop = asyncio.Event()

    async def busy() -> None:
        n = 0
        while not stop.is_set():
            async with db.session() as session:
                record_event(session, EVENTS.service_created, tenant="acme", data=service_event(f"busy-{n}"))
            n += 1
            await asyncio.sleep(0.2)

    traffic = asyncio.create_task(busy())
    try:
        await asyncio.sleep(0.5)
        async with other.session() as session:
            orphan = record_event(session, EVENTS.service_created, tenant="acme", data=service_event("orphan"))
        await wait_until(lambda: outbox_sent(db, orphan.id), timeout=10.0)
        assert not traffic.done()  # published while the commits went on
    finally:
        stop.set()
        task.cancel()
        await asyncio.gather(task, traffic, return_exceptions=True)
        await other.dispose()


async def test_an_event_rolled_back_with_its_savepoint_is_not_handed_to_the_relay(db: Database, bus: Bus) -> None:
    relay = OutboxRelay(db, bus, poll_seconds=30.0)
    reads = _count_reads(relay)
    listener = await nats.connect(bus.url)
    seen: list[str] = []

    async def collect(message: Msg) -> None:
        seen.append((message.headers or {}).get("ce-id", ""))

    await listener.subscribe("slm.catalog.>", cb=collect)
    await listener.flush()
    task = asyncio.create_task(relay.run())
    try:
        await wait_until(lambda: _at_least(reads, 1))
        async with db.session() as session:
            with pytest.raises(RuntimeError):
                async with session.begin_nested():
                    undone = record_event(session, EVENTS.service_created, tenant="acme", data=service_event("undone"))
                    await session.flush()
                    raise RuntimeError("this part fails")
            kept = record_event(session, EVENTS.service_created, tenant="acme", data=service_event("kept"))
        await wait_until(lambda: outbox_sent(db, kept.id), timeout=10.0)
        await wait_until(lambda: seen_in(seen, kept.id))  # in publish order: the undone one would have come first
        assert undone.id not in seen
        assert len(reads) == 1  # from the hand-over
        async with db.session(read_only=True) as session:
            assert await session.scalar(select(OutboxMessage.seq).where(OutboxMessage.event_id == undone.id)) is None
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await listener.close()


async def _at_least(calls: list[int], count: int) -> bool:
    return len(calls) >= count


def _count_reads(relay: OutboxRelay) -> list[int]:
    """Count the relay's reads of the table (each appended once the read and its publishing are done)."""
    plain_round, reads = relay.relay_once, list[int]()

    async def counted_round() -> int:
        sent = await plain_round()
        reads.append(sent)
        return sent

    relay.relay_once = counted_round  # type: ignore[method-assign]
    return reads


async def test_the_events_of_one_commit_go_in_one_insert_each_handed_over_with_its_own_seq(
    db: Database, bus: Bus
) -> None:
    relay = OutboxRelay(db, bus, poll_seconds=30.0)
    inserts: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO OUTBOX"):
            inserts.append(statement)

    engine = db.engine.sync_engine
    sa_event.listen(engine, "before_cursor_execute", seen)
    try:
        async with db.session() as session:
            events = [
                record_event(session, EVENTS.service_created, tenant="acme", data=service_event(f"key-{n}"))
                for n in range(3)
            ]
    finally:
        sa_event.remove(engine, "before_cursor_execute", seen)
    assert len(inserts) == 1, inserts
    async with db.session(read_only=True) as session:
        stored = {
            seq: (event_id, body)
            for seq, event_id, body in await session.execute(
                select(OutboxMessage.seq, OutboxMessage.event_id, OutboxMessage.body)
            )
        }
    handed = relay._handed  # what the commit hook gave the relay: the row's own seq, event id and body
    assert [row.event_id for row in handed] == [event.id for event in events]
    assert all(stored[row.seq] == (row.event_id, row.body) for row in handed)
    assert [row.seq for row in handed] == sorted(row.seq for row in handed)  # published in the order written


async def _attempts_and_sent(db: Database, event_id: str) -> tuple[int, object]:
    async with db.session(read_only=True) as session:
        row = (
            await session.execute(
                select(OutboxMessage.attempts, OutboxMessage.sent_at).where(OutboxMessage.event_id == event_id)
            )
        ).one()
    return row.attempts, row.sent_at


async def test_a_lone_handed_row_whose_publish_fails_counts_an_attempt_and_stays_unsent(db: Database, bus: Bus) -> None:
    relay = OutboxRelay(db, bus, publish_timeout=1e-6)  # no acknowledgement in time: the publish fails
    async with db.session() as session:
        event = record_event(session, EVENTS.service_created, tenant="acme", data=service_event("lone"))
    handed = list(relay._handed)
    assert len(handed) == 1  # a commit's lone event, published from the relay's own task
    with pytest.raises(Exception, match="Timeout"):
        await relay.relay_handed(handed)
    assert await _attempts_and_sent(db, event.id) == (1, None)
    assert relay.published == 0


async def test_a_cancelled_error_from_a_lone_rows_publish_is_that_rows_failure_not_the_relays_end(
    db: Database, bus: Bus, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A publish that raises CancelledError while the relay's task itself is not cancelled (a future inside the
    client cancelled) fails that row, as with several rows; the relay goes on and publishes it next time."""
    relay = OutboxRelay(db, bus)
    async with db.session() as session:
        event = record_event(session, EVENTS.service_created, tenant="acme", data=service_event("cancelled"))
    handed = list(relay._handed)
    publish = bus.js.publish

    async def cancelled_once(*args: object, **kwargs: object) -> object:
        monkeypatch.setattr(bus.js, "publish", publish)
        raise asyncio.CancelledError

    monkeypatch.setattr(bus.js, "publish", cancelled_once)
    with pytest.raises(Exception, match="CancelledError"):
        await relay.relay_handed(handed)
    assert await _attempts_and_sent(db, event.id) == (1, None)
    assert await relay.relay_once() == 1  # the relay goes on: the row published from the table
    attempts, sent_at = await _attempts_and_sent(db, event.id)
    assert attempts == 2 and sent_at is not None  # the failed attempt and the sent one


async def test_a_relay_task_cancelled_during_a_lone_rows_publish_stops(
    db: Database, bus: Bus, monkeypatch: pytest.MonkeyPatch
) -> None:
    relay = OutboxRelay(db, bus)
    async with db.session() as session:
        record_event(session, EVENTS.service_created, tenant="acme", data=service_event("stopped"))
    handed = list(relay._handed)
    started = asyncio.Event()
    publish = bus.js.publish

    async def held(*args: object, **kwargs: object) -> object:
        started.set()
        await asyncio.Event().wait()
        return await publish(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(bus.js, "publish", held)
    task = asyncio.create_task(relay.relay_handed(handed))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
