"""The idempotent inbox against the real NATS server, on SQLite and PostgreSQL: once per event, dead letters."""

from __future__ import annotations

import asyncio
import itertools
import json
import uuid

from bus_helpers import apply_effect, count_effects, effects, service_event, unique_consumer, wait_until
from nats.js.errors import NotFoundError
from sqlalchemy import func, insert, select

from slm_shared.bus import Bus, Consumer, DeadLetter
from slm_shared.bus.dead_letters import PermanentError, replay
from slm_shared.contracts import EVENTS, CloudEvent
from slm_shared.contracts.registry import STREAMS
from slm_shared.db import Database


async def test_event_published_twice_is_applied_once(db: Database, bus: Bus) -> None:
    consumer = Consumer(db, bus, name=unique_consumer(), handlers={EVENTS.service_created.type: apply_effect})
    task = asyncio.create_task(consumer.run())
    try:
        event = EVENTS.service_created.build(tenant="acme", data=service_event("twice"))
        # Two publishes with different message ids get past JetStream's de-duplication.
        for attempt in range(2):
            await bus.js.publish(
                EVENTS.service_created.subject,
                json.dumps(event.data).encode(),
                headers={**event.headers(), "Nats-Msg-Id": f"{event.id}-{attempt}"},
            )
        # The consumer reads the stream from its start (earlier tests' events too): wait until it has acknowledged
        # every message, both publishes included, rather than for its first application.
        stream = STREAMS[EVENTS.service_created.producer].name
        await wait_until(lambda: _all_acknowledged(bus, stream, consumer.name))
        assert await count_effects(db, event.id) == 1
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)  # ended before the database is disposed


async def _all_acknowledged(bus: Bus, stream: str, name: str) -> bool:
    try:
        info = await bus.js.consumer_info(stream, name)
    except NotFoundError:  # not made yet
        return False
    return info.num_pending == 0 and info.num_ack_pending == 0 and info.delivered.stream_seq > 0


async def test_poison_message_becomes_a_dead_letter_and_replays(db: Database, bus: Bus) -> None:
    # The stream outlives the test (one NATS server per session) and the consumer reads it from the start,
    # so it also gets the events earlier tests published: only this test's event is refused, until replayed.
    event = EVENTS.service_created.build(tenant="acme", data=service_event("poison"))
    refusing = {"poison": True}

    async def flaky(session, delivered: CloudEvent) -> None:  # type: ignore[no-untyped-def]
        if refusing["poison"] and delivered.id == event.id:
            raise ValueError("downstream rejected it")
        await apply_effect(session, delivered)

    consumer = Consumer(
        db,
        bus,
        name=unique_consumer(),
        handlers={EVENTS.service_created.type: flaky},
        max_deliveries=3,
        retry_delay=0.05,
    )
    task = asyncio.create_task(consumer.run())
    try:
        await bus.js.publish(
            EVENTS.service_created.subject,
            b'{"service_id":"x","key":"poison","name":"P"}',
            headers={**event.headers(), "Nats-Msg-Id": event.id},
        )

        async def dead_lettered() -> bool:
            async with db.session(read_only=True) as session:  # a reader never waits for the consumer
                return (
                    await session.scalar(
                        select(func.count()).select_from(DeadLetter).where(DeadLetter.event_id == event.id)
                    )
                ) == 1

        await wait_until(dead_lettered)
        async with db.session() as session:
            letter = await session.scalar(select(DeadLetter).where(DeadLetter.event_id == event.id))
        assert letter is not None and letter.deliveries == 3 and "downstream rejected it" in letter.error
        assert await count_effects(db, event.id) == 0

        refusing["poison"] = False
        assert letter.tenant == "acme"
        await replay(consumer, letter)
        assert await count_effects(db, event.id) == 1
        await replay(consumer, letter)  # once: a replayed event already applied changes nothing
        assert await count_effects(db, event.id) == 1
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)  # ended before the database is disposed


async def test_unreadable_message_is_dead_lettered_at_once(db: Database, bus: Bus) -> None:
    consumer = Consumer(db, bus, name=unique_consumer(), handlers={EVENTS.service_created.type: apply_effect})
    task = asyncio.create_task(consumer.run())
    try:
        marker = str(uuid.uuid4())
        await bus.js.publish(
            EVENTS.service_created.subject,
            b"{not json",
            headers={"ce-id": marker, "ce-type": EVENTS.service_created.type, "Nats-Msg-Id": marker},
        )

        async def dead_lettered() -> bool:
            async with db.session(read_only=True) as session:  # a reader never waits for the consumer
                return (
                    await session.scalar(
                        select(func.count()).select_from(DeadLetter).where(DeadLetter.event_id == marker)
                    )
                ) == 1

        await wait_until(dead_lettered)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)  # ended before the database is disposed


async def test_permanent_error_skips_retries(db: Database, bus: Bus) -> None:
    async def refuse(session, event: CloudEvent) -> None:  # type: ignore[no-untyped-def]
        raise PermanentError("cannot ever apply")

    consumer = Consumer(
        db, bus, name=unique_consumer(), handlers={EVENTS.service_created.type: refuse}, max_deliveries=10
    )
    task = asyncio.create_task(consumer.run())
    try:
        event = EVENTS.service_created.build(tenant="acme", data=service_event("permanent"))
        await bus.js.publish(
            EVENTS.service_created.subject,
            b'{"service_id":"x","key":"p","name":"P"}',
            headers={**event.headers(), "Nats-Msg-Id": event.id},
        )

        async def dead_lettered() -> bool:
            async with db.session(read_only=True) as session:  # a reader never waits for the consumer
                letter = await session.scalar(select(DeadLetter).where(DeadLetter.event_id == event.id))
                return letter is not None and letter.deliveries == 1

        await wait_until(dead_lettered)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)  # ended before the database is disposed


async def test_a_dead_letter_keeps_no_credential_a_publisher_sent(db: Database, bus: Bus) -> None:
    async def refuse(session, event: CloudEvent) -> None:  # type: ignore[no-untyped-def]
        raise PermanentError("cannot ever apply")

    consumer = Consumer(db, bus, name=unique_consumer(), handlers={EVENTS.service_created.type: refuse})
    task = asyncio.create_task(consumer.run())
    try:
        event = EVENTS.service_created.build(tenant="acme", data=service_event("credentials"))
        sent = {**event.headers(), "Nats-Msg-Id": event.id}
        credentials = {"Authorization": "Bearer not-for-the-letters", "proxy-authorization": "Basic eDp5"}
        body = json.dumps(event.data).encode()
        await bus.js.publish(EVENTS.service_created.subject, body, headers={**sent, **credentials})

        async def letter() -> DeadLetter | None:
            async with db.session(read_only=True) as session:
                return await session.scalar(select(DeadLetter).where(DeadLetter.event_id == event.id))

        await wait_until(letter)
        kept = await letter()
        assert kept is not None
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)  # ended before the database is disposed
    assert kept.headers == sent
    assert (kept.event_type, kept.tenant) == (EVENTS.service_created.type, "acme")


async def test_handler_constraint_violation_is_not_mistaken_for_a_duplicate(db: Database, bus: Bus) -> None:
    async def violates(session, event: CloudEvent) -> None:  # type: ignore[no-untyped-def]
        # Two rows with the same primary key: the handler's own IntegrityError.
        await session.execute(insert(effects).values(id=1, event_id=event.id, value="a"))
        await session.execute(insert(effects).values(id=1, event_id=event.id, value="b"))

    consumer = Consumer(
        db,
        bus,
        name=unique_consumer(),
        handlers={EVENTS.service_created.type: violates},
        max_deliveries=2,
        retry_delay=0.05,
    )
    task = asyncio.create_task(consumer.run())
    try:
        event = EVENTS.service_created.build(tenant="acme", data=service_event("constraint"))
        await bus.js.publish(
            EVENTS.service_created.subject,
            json.dumps(event.data).encode(),
            headers={**event.headers(), "Nats-Msg-Id": event.id},
        )

        async def dead_lettered() -> bool:
            async with db.session(read_only=True) as session:  # a reader never waits for the consumer
                letter = await session.scalar(select(DeadLetter).where(DeadLetter.event_id == event.id))
                return letter is not None and "IntegrityError" in letter.error

        await wait_until(dead_lettered)
        assert consumer.applied == 0
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)  # ended before the database is disposed


async def test_a_message_that_never_gets_an_answer_is_dead_lettered_by_the_bound(db: Database, bus: Bus) -> None:
    calls: list[str] = []

    async def handler(session, event: CloudEvent) -> None:  # type: ignore[no-untyped-def]
        calls.append(event.id)
        await apply_effect(session, event)

    name = unique_consumer()
    consumer = Consumer(db, bus, name=name, handlers={EVENTS.service_created.type: handler}, max_deliveries=2)
    stream = STREAMS["catalog"].name
    await consumer._ensure_consumer(stream, [EVENTS.service_created.subject])
    info = await bus.js.consumer_info(stream, name)
    assert info.config.max_deliver == 3  # the server stops redelivering too
    event = EVENTS.service_created.build(tenant="acme", data=service_event("silent"))
    await bus.js.publish(
        EVENTS.service_created.subject,
        json.dumps(event.data).encode(),
        headers={**event.headers(), "Nats-Msg-Id": event.id},
    )
    # Two deliveries that end without an answer, as when the process dies or hangs mid-message.
    raw = await bus.js.pull_subscribe_bind(name, stream=stream)
    delivered = 0
    while delivered < 2:  # the stream holds earlier tests' events too; every one goes unanswered
        for message in await raw.fetch(100, timeout=5):
            if (message.headers or {}).get("ce-id") == event.id:
                delivered = message.metadata.num_delivered
            await message.nak()
    await raw.unsubscribe()
    task = asyncio.create_task(consumer.run())
    try:

        async def letter() -> DeadLetter | None:
            async with db.sessionmaker() as session:
                return await session.scalar(select(DeadLetter).where(DeadLetter.event_id == event.id))

        await wait_until(letter)
        found = await letter()
        assert found is not None and found.deliveries == 3 and found.tenant == "acme"
        assert "without an acknowledgement" in found.error and event.id not in calls
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)  # ended before the database is disposed


async def test_a_fetched_batch_is_applied_in_few_transactions_and_a_poison_event_alone(db: Database, bus: Bus) -> None:
    transactions: set[int] = set()
    numbers = itertools.count()

    async def picky(session, event: CloudEvent) -> None:  # type: ignore[no-untyped-def]
        if event.id in ours:  # the stream also holds earlier tests' events (DeliverPolicy.ALL)
            transactions.add(session.info.setdefault("test_transaction", next(numbers)))
        if event.data["key"] == "poison":
            raise ValueError("downstream rejected it")
        await apply_effect(session, event)

    name = unique_consumer()
    consumer = Consumer(
        db, bus, name=name, handlers={EVENTS.service_created.type: picky}, max_deliveries=2, retry_delay=0.05
    )
    await bus.ensure_platform_streams()
    await consumer._ensure_consumer(  # created before publishing, so the backlog comes in fetched batches
        "SLM_CATALOG", consumer.subscriptions()["SLM_CATALOG"]
    )
    keys = [f"batch-{n}" for n in range(30)]
    keys[12] = "poison"
    events = [EVENTS.service_created.build(tenant="acme", data=service_event(key)) for key in keys]
    ours = {event.id for event in events}
    for event in events:
        body = json.dumps(event.data).encode()
        await bus.js.publish(EVENTS.service_created.subject, body, headers=event.headers())
    await bus.js.publish(
        EVENTS.service_created.subject, json.dumps(events[3].data).encode(), headers=events[3].headers()
    )

    task = asyncio.create_task(consumer.run())
    try:
        poison = events[12]

        async def settled() -> bool:
            async with db.session(read_only=True) as session:  # a reader never waits for the consumer
                letters = await session.scalar(
                    select(func.count()).select_from(DeadLetter).where(DeadLetter.event_id == poison.id)
                )
            applied = [await count_effects(db, event.id) for event in events]
            return letters == 1 and sum(applied) == 29

        await wait_until(settled, timeout=30)
        for event in events:
            assert await count_effects(db, event.id) == (0 if event is poison else 1)
        await asyncio.sleep(0.5)  # the duplicate, had it been applied again, would show by now
        for event in events:
            assert await count_effects(db, event.id) == (0 if event is poison else 1)
        assert len(transactions) < 15  # 31 messages (one twice): most in shared transactions, not one each
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)  # ended before the database is disposed


async def test_one_event_applied_by_two_replicas_at_once_takes_effect_once(
    db: Database, bus: Bus, database_url: str
) -> None:
    """Each replica writes the inbox row first: the second waits on the unique key, then finds it taken."""
    other = Database(database_url)  # a second replica: its own engine and connections
    name = unique_consumer()

    async def slow_effect(session, event: CloudEvent) -> None:  # type: ignore[no-untyped-def]
        await apply_effect(session, event)
        await asyncio.sleep(0.3)  # the other replica arrives while this transaction is open

    try:
        replicas = [Consumer(database, bus, name=name, handlers={}) for database in (db, other)]
        event = EVENTS.service_created.build(tenant="acme", data=service_event("both"))
        results = await asyncio.gather(*(replica.apply(event, slow_effect) for replica in replicas))
        assert sorted(results) == [False, True]
        assert await count_effects(db, event.id) == 1
        # and once more, later (a redelivery): nothing
        assert await replicas[1].apply(event, slow_effect) is False
        assert await count_effects(db, event.id) == 1
    finally:
        await other.dispose()
