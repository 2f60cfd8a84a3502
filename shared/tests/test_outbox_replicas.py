"""Two relays (two replicas) on one PostgreSQL outbox: a commit's rows are published before any database round
trip, a scan on the other replica meanwhile publishes a copy JetStream drops, and no replica gives up on a row
its owner may still be marking."""

from __future__ import annotations

import asyncio
from typing import Any

import nats
import pytest
from bus_helpers import listening, seen_in, service_event, wait_until
from nats.js.api import DeliverPolicy
from sqlalchemy import func, select, text, update

from slm_shared.bus import Bus, OutboxMessage, OutboxRelay, record_event
from slm_shared.contracts import EVENTS
from slm_shared.db import Database


async def test_handed_rows_are_published_before_any_database_round_trip_and_marked_once(
    postgres_url: str, bus: Bus
) -> None:
    # PostgreSQL, two replicas: B reads the table while A's commit hands the same rows to A. A publishes
    # at once, even the row B holds and the one B sent already: JetStream keeps one copy of each.
    import slm_shared.bus.models  # noqa: F401

    first, second = Database(postgres_url), Database(postgres_url)
    listener, seen = await listening(bus.url)
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
            await wait_until(lambda: seen_in(seen, held.id))  # published while B still holds the row
            await wait_until(lambda: seen_in(seen, done.id))
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
