"""The outbox relay publishing the rows a commit hands over, against the real NATS server, on SQLite and
PostgreSQL: at once, without reading the table, and a lone handed row's failed publish."""

from __future__ import annotations

import asyncio
import json

import pytest
from bus_helpers import listening, outbox_sent, seen_in, service_event, wait_until
from sqlalchemy import event as sa_event
from sqlalchemy import select

from slm_shared.bus import Bus, OutboxMessage, OutboxRelay, record_event
from slm_shared.contracts import EVENTS
from slm_shared.db import Database


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
    listener, seen = await listening(bus.url)
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
