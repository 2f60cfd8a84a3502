"""The transactional outbox and its relay against the real NATS server, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import nats
import pytest
from bus_helpers import apply_effect, count_effects, service_event, unique_consumer, wait_until
from nats.aio.msg import Msg
from nats.js.api import DeliverPolicy
from sqlalchemy import event as sa_event
from sqlalchemy import func, select, text, update

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
        assert await _sent(db, event.id)  # and marked sent
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
            await wait_until(lambda event=event: _sent(db, event.id), timeout=20)
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
        await wait_until(lambda: _sent(db, event.id), timeout=10.0)
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
        await wait_until(lambda: _sent(db, orphan.id), timeout=10.0)
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
        await wait_until(lambda: _sent(db, kept.id), timeout=10.0)
        await wait_until(lambda: _in(seen, kept.id))  # in publish order: the undone one would have come first
        assert undone.id not in seen
        assert len(reads) == 1  # from the hand-over
        async with db.session(read_only=True) as session:
            assert await session.scalar(select(OutboxMessage.seq).where(OutboxMessage.event_id == undone.id)) is None
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await listener.close()


async def test_handed_rows_are_published_before_any_database_round_trip_and_marked_once(
    postgres_url: str, bus: Bus
) -> None:
    # PostgreSQL, two replicas: B reads the table while A's commit hands the same rows to A. A publishes
    # at once, even the row B holds and the one B sent already: JetStream keeps one copy of each.
    import slm_shared.bus.models  # noqa: F401

    first, second = Database(postgres_url), Database(postgres_url)
    listener = await nats.connect(bus.url)
    seen: list[str] = []

    async def collect(message: Msg) -> None:
        seen.append((message.headers or {}).get("ce-id", ""))

    await listener.subscribe("slm.catalog.>", cb=collect)
    await listener.flush()
    try:
        async with first.engine.begin() as connection:
            await connection.run_sync(OutboxMessage.metadata.create_all)
        relay_a, relay_b = OutboxRelay(first, bus), OutboxRelay(second, bus)
        async with first.session() as session:
            held = record_event(session, EVENTS.service_created, tenant="acme", data=service_event("held"))
            done = record_event(session, EVENTS.service_created, tenant="acme", data=service_event("done"))
        handed = list(relay_a._handed)  # what the commit handed to A's relay
        assert [row.event_id for row in handed] == [held.id, done.id]

        async with second.session() as session:  # B holds `held` while it publishes it
            await session.execute(select(OutboxMessage.seq).where(OutboxMessage.event_id == held.id).with_for_update())
            async with second.session() as other:  # and has sent `done` already
                await other.execute(
                    update(OutboxMessage)
                    .where(OutboxMessage.event_id == done.id)
                    .values(sent_at=func.now(), attempts=1)
                )
            relaying = asyncio.create_task(relay_a.relay_handed(handed))
            await wait_until(lambda: _in(seen, held.id))  # published while B still holds the row
            await wait_until(lambda: _in(seen, done.id))
            assert not relaying.done()  # A's mark waits for B's lock
            await session.execute(  # B marks `held` sent after its own publish
                update(OutboxMessage).where(OutboxMessage.event_id == held.id).values(sent_at=func.now(), attempts=1)
            )
        assert await relaying == 2
        assert relay_a.published == 2
        assert await relay_b.relay_handed(handed) == 0  # another copy of each: acknowledged, but as duplicates
        assert (relay_b.published, relay_b.duplicates) == (0, 2)
        assert await relay_b.relay_once() == 0  # nothing left unsent
        async with first.session(read_only=True) as session:
            rows = (await session.execute(select(OutboxMessage.event_id, OutboxMessage.attempts))).all()
        assert sorted(rows) == sorted([(held.id, 1), (done.id, 1)])  # marked once each, by the first mark
    finally:
        await listener.close()
        await first.dispose()
        await second.dispose()


def _gate_marks(relay: OutboxRelay) -> asyncio.Event:
    """Hold the relay's marks (after its publish) until the returned event is set."""
    gate, plain_mark = asyncio.Event(), relay._mark

    async def gated_mark(*args: Any, **kwargs: Any) -> None:
        await gate.wait()
        await plain_mark(*args, **kwargs)

    relay._mark = gated_mark  # type: ignore[method-assign]
    return gate


async def _stored(bus: Bus, event_id: str) -> int:
    """How many copies of the event the platform stream holds."""
    subject = EVENTS.service_created.subject
    stream = await bus.js.find_stream_name_by_subject(subject)
    copies = 0
    sub = await bus.js.subscribe(subject, stream=stream, ordered_consumer=True, deliver_policy=DeliverPolicy.ALL)
    try:
        while True:
            try:
                message = await sub.next_msg(timeout=0.5)
            except nats.errors.TimeoutError:
                return copies
            copies += (message.headers or {}).get("ce-id") == event_id
    finally:
        await sub.unsubscribe()


async def _has_published(relay: OutboxRelay) -> bool:
    return relay.published > 0


async def _outbox_row(db: Database, event_id: str) -> tuple[Any, ...]:
    async with db.session(read_only=True) as session:
        row = (
            await session.execute(
                select(OutboxMessage.attempts, OutboxMessage.sent_at, OutboxMessage.failed_at).where(
                    OutboxMessage.event_id == event_id
                )
            )
        ).one()
    return tuple(row)


async def test_a_scan_on_another_replica_while_the_owner_marks_publishes_a_copy_jetstream_drops(
    postgres_url: str, bus: Bus
) -> None:
    # PostgreSQL, two replicas: A's commit hands a row to A, which publishes it; before A's mark commits,
    # B's read of the table finds the row unsent and publishes it again. JetStream keeps one copy.
    import slm_shared.bus.models  # noqa: F401

    first, second = Database(postgres_url), Database(postgres_url)
    try:
        async with first.engine.begin() as connection:
            await connection.run_sync(OutboxMessage.metadata.create_all)
        relay_a, relay_b = OutboxRelay(first, bus), OutboxRelay(second, bus)
        gate = _gate_marks(relay_a)
        async with first.session() as session:
            event = record_event(session, EVENTS.service_created, tenant="acme", data=service_event("fresh"))
        relaying = asyncio.create_task(relay_a.relay_handed(list(relay_a._handed)))
        await wait_until(lambda: _has_published(relay_a))  # A's copy stored, its mark held
        assert not relaying.done()
        assert await relay_b.relay_once() == 0  # B published the row again: acknowledged as a duplicate
        assert (relay_b.published, relay_b.duplicates) == (0, 1)
        gate.set()
        assert await relaying == 1  # A's mark finds the row sent by B's and leaves it
        assert (relay_a.published, relay_a.duplicates) == (1, 0)
        assert await _stored(bus, event.id) == 1
        attempts, sent_at, failed_at = await _outbox_row(first, event.id)
        assert attempts == 1 and sent_at is not None and failed_at is None  # marked once
    finally:
        await first.dispose()
        await second.dispose()


async def test_a_replica_does_not_give_up_on_a_row_its_owner_may_still_be_marking(postgres_url: str, bus: Bus) -> None:
    # PostgreSQL, two replicas: A published a handed row and has not marked it yet; B's publish of the same
    # row fails (its timeout) at B's last attempt. B gives up on an old row in that read, not on this one.
    import slm_shared.bus.models  # noqa: F401

    first, second = Database(postgres_url), Database(postgres_url)
    try:
        async with first.engine.begin() as connection:
            await connection.run_sync(OutboxMessage.metadata.create_all)
        relay_a = OutboxRelay(first, bus)
        relay_b = OutboxRelay(second, bus, max_attempts=1, publish_timeout=1e-6, hand_over_seconds=30.0)
        gate = _gate_marks(relay_a)
        async with first.session() as session:
            old = record_event(session, EVENTS.service_created, tenant="acme", data=service_event("old"))
            fresh = record_event(session, EVENTS.service_created, tenant="acme", data=service_event("fresh"))
        relay_a._handed = [row for row in relay_a._handed if row.event_id == fresh.id]  # `old`: a lost hand-over
        async with first.session() as session:
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.event_id == old.id)
                .values(created_at=func.now() - text("interval '1 minute'"))
            )
        relaying = asyncio.create_task(relay_a.relay_handed(list(relay_a._handed)))
        await wait_until(lambda: _has_published(relay_a))
        with pytest.raises(Exception, match="Timeout"):
            await relay_b.relay_once()
        assert relay_b.given_up == 1
        attempts, sent_at, failed_at = await _outbox_row(first, old.id)
        assert (attempts, sent_at) == (1, None) and failed_at is not None  # given up
        attempts, sent_at, failed_at = await _outbox_row(first, fresh.id)
        assert (attempts, sent_at, failed_at) == (1, None, None)  # an attempt, and no more
        gate.set()
        assert await relaying == 1
        attempts, sent_at, failed_at = await _outbox_row(first, fresh.id)
        assert sent_at is not None and failed_at is None and attempts == 2
    finally:
        await first.dispose()
        await second.dispose()


async def _sent(db: Database, event_id: str) -> bool:
    async with db.session(read_only=True) as session:
        return await session.scalar(select(OutboxMessage.sent_at).where(OutboxMessage.event_id == event_id)) is not None


async def _at_least(calls: list[int], count: int) -> bool:
    return len(calls) >= count


async def _in(seen: list[str], event_id: str) -> bool:
    return event_id in seen


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
