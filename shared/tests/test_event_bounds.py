"""The envelope's bounds are the columns' bounds: an event breaking one is refused when built and when received.

Received (a third party may publish to the stream), it goes to the dead letters at its first delivery with a
reason naming the attribute, and is acknowledged: no retries, no redelivery. On SQLite and PostgreSQL (where a
value longer than its column fails the insert), against the real NATS server.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import uuid
from typing import cast

import pytest
from bus_helpers import apply_effect, count_effects, service_event, unique_consumer, wait_until
from pydantic import ValidationError
from sqlalchemy import Table, func, select

from slm_shared.bus import Bus, Consumer, DeadLetter, InboxMessage, OutboxMessage, record_event
from slm_shared.bus.dead_letters import BASE64_BODY, replay
from slm_shared.contracts import EVENTS, CloudEvent
from slm_shared.contracts.envelope import EVENT_ID_MAX_LENGTH, EVENT_TYPE_MAX_LENGTH, TENANT_MAX_LENGTH, InvalidEvent
from slm_shared.contracts.registry import STREAMS
from slm_shared.db import Database
from slm_shared.web.dead_letters import DeadLetterFilter, matching

LONG_ID = "x" * (EVENT_ID_MAX_LENGTH + 1)
LONGEST_ID = "y" * EVENT_ID_MAX_LENGTH


def test_the_columns_keep_what_the_envelope_allows() -> None:
    for model in (OutboxMessage, InboxMessage, DeadLetter):
        columns = cast(Table, model.__table__).c  # type: ignore[attr-defined]
        assert columns.event_id.type.length == EVENT_ID_MAX_LENGTH
        event_type = columns.type if model is OutboxMessage else columns.event_type
        assert event_type.type.length == EVENT_TYPE_MAX_LENGTH
        assert columns.tenant.type.length == TENANT_MAX_LENGTH


def test_an_event_is_refused_when_built_with_an_id_or_tenant_out_of_bounds() -> None:
    attrs = {"source": "/test", "type": EVENTS.service_created.type, "tenant": "acme"}
    assert CloudEvent(id=LONGEST_ID, **attrs).id == LONGEST_ID
    for bad in (LONG_ID, ""):
        with pytest.raises(ValidationError, match="id"):
            CloudEvent(id=bad, **attrs)
    with pytest.raises(InvalidEvent, match="tenant: String should have at most 64 characters") as refused:
        EVENTS.service_created.build(tenant="t" * (TENANT_MAX_LENGTH + 1), data=service_event("long-tenant"))
    assert refused.value.fields == ["tenant"]


def test_a_received_event_is_refused_naming_the_attribute() -> None:
    headers = EVENTS.service_created.build(tenant="acme", data=service_event("received")).headers()
    for bad, reason in ((LONG_ID, "at most 64"), ("", "at least 1")):
        with pytest.raises(InvalidEvent, match=f"^invalid event: id: String should have {reason}") as refused:
            CloudEvent.from_message({**headers, "ce-id": bad}, b"{}")
        assert refused.value.fields == ["id"]
    # without an id it is refused too: a fresh one for each delivery would apply it once per delivery
    without = {name: value for name, value in headers.items() if name != "ce-id"}
    with pytest.raises(InvalidEvent, match="id: Field required"):
        CloudEvent.from_message(without, b"{}")
    # every attribute that breaks the model is named, the missing id with the rest
    bare = {"ce-source": "/outside", "ce-specversion": "1.0"}
    with pytest.raises(InvalidEvent) as refused:
        CloudEvent.from_message(bare, b"{}")
    assert refused.value.fields == ["id", "type", "tenant"]


def test_an_id_type_or_tenant_holding_nul_is_refused_like_one_too_long() -> None:
    """No column keeps U+0000 (PostgreSQL refuses the write): refused when built and when received."""
    headers = EVENTS.service_created.build(tenant="acme", data=service_event("nul")).headers()
    for attribute in ("id", "type", "tenant"):
        with pytest.raises(InvalidEvent, match=f"^invalid event: {attribute}: .*U\\+0000") as refused:
            CloudEvent.from_message({**headers, f"ce-{attribute}": "a%00b"}, b"{}")
        assert refused.value.fields == [attribute]
    with pytest.raises(InvalidEvent, match=r"tenant: .*U\+0000"):
        EVENTS.service_created.build(tenant="ac\x00me", data=service_event("nul"))


def test_the_attributes_are_read_decoded_and_in_any_case() -> None:
    headers = EVENTS.service_created.build(tenant="Acme Corp", data=service_event("case")).headers()
    assert headers["ce-tenant"] == "Acme%20Corp"
    mixed = {("Ce-Tenant" if name == "ce-tenant" else name): value for name, value in headers.items()}
    assert CloudEvent.from_message(mixed, b"{}").tenant == "Acme Corp"


async def test_the_outbox_refuses_an_event_out_of_bounds_before_storing_anything(db: Database) -> None:
    tenant = "t" * (TENANT_MAX_LENGTH + 1)
    async with db.session() as session:
        with pytest.raises(InvalidEvent, match=r"invalid slm\.catalog\.service\.created\.v1 event: tenant"):
            record_event(session, EVENTS.service_created, tenant=tenant, data=service_event("refused"))
        assert not session.new and "slm_outbox_rows" not in session.info
        fits = record_event(session, EVENTS.service_created, tenant="t" * TENANT_MAX_LENGTH, data=service_event("ok"))
    async with db.session(read_only=True) as session:
        stored = list(await session.scalars(select(OutboxMessage.tenant)))  # type: ignore[call-overload]
    assert stored == [fits.tenant]


async def test_an_event_out_of_bounds_is_dead_lettered_at_its_first_delivery_and_acknowledged(
    db: Database, bus: Bus
) -> None:
    run = f"bounds-{uuid.uuid4().hex[:8]}"
    ours: set[str] = set()

    async def apply_ours(session, event: CloudEvent) -> None:  # type: ignore[no-untyped-def]
        if event.data.get("key", "").startswith(run):  # the stream holds earlier tests' events too
            await apply_effect(session, event)

    name = unique_consumer()
    consumer = Consumer(
        db, bus, name=name, handlers={EVENTS.service_created.type: apply_ours}, max_deliveries=5, ack_wait=2.0
    )
    stream = STREAMS["catalog"].name
    # created before publishing: the backlog comes in fetched batches (`batches.handle_together`), then the
    # last refused event is published on its own (`Consumer.handle_message`)
    await consumer._ensure_consumer(stream, consumer.subscriptions()[stream])

    async def publish(key: str, **overrides: str) -> str:
        event = EVENTS.service_created.build(tenant="acme", data=service_event(f"{run}-{key}"))
        headers = {**event.headers(), **{f"ce-{name}": value for name, value in overrides.items()}}
        marker = f"{run}-{key}"
        ours.add(marker)
        body = json.dumps(event.data).encode()
        await bus.js.publish(EVENTS.service_created.subject, body, headers={**headers, "Nats-Msg-Id": marker})
        return overrides.get("id", event.id)

    async def letters() -> list[DeadLetter]:  # this test's (the consumer also refuses earlier tests' unreadable ones)
        async with db.session(read_only=True) as session:
            kept = await session.scalars(select(DeadLetter).where(DeadLetter.consumer == name))
            return [letter for letter in kept if letter.headers.get("Nats-Msg-Id") in ours]

    before = await publish("before")
    await publish("long-id", id=LONG_ID + run)
    await publish("empty-id", id="")
    await publish("long-tenant", tenant="t" * (TENANT_MAX_LENGTH + 1))
    longest = await publish("longest-id", id=run + "y" * (EVENT_ID_MAX_LENGTH - len(run)))
    task = asyncio.create_task(consumer.run())
    try:

        async def settled() -> bool:
            return len(await letters()) == 3 and await count_effects(db, longest) == 1

        await wait_until(settled, timeout=30)
        late = await publish("late-long-id", id=LONG_ID + "late" + run)
        await wait_until(lambda: _count_is(letters, 4))
        await asyncio.sleep(2 * consumer.ack_wait)  # a message left unacknowledged would be delivered again by now
        info = await bus.js.consumer_info(stream, name)
        mine = await letters()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)  # ended before the database is disposed
    assert await count_effects(db, before) == 1 and await count_effects(db, longest) == 1
    assert len(mine) == 4  # each refused once: none retried, none applied
    by_key = {letter.headers["Nats-Msg-Id"].removeprefix(f"{run}-"): letter for letter in mine}
    assert sorted(by_key) == ["empty-id", "late-long-id", "long-id", "long-tenant"]
    for key, letter in by_key.items():
        assert letter.deliveries == 1, key
        field = "tenant" if key == "long-tenant" else "id"
        assert letter.error.startswith(f"invalid event: {field}: "), letter.error
    # a name that breaks its column is left out (cut, it would name another event); the headers keep it whole
    assert by_key["long-id"].event_id is None and by_key["long-id"].headers["ce-id"] == LONG_ID + run
    assert by_key["late-long-id"].headers["ce-id"] == late and by_key["late-long-id"].tenant == "acme"
    assert by_key["long-tenant"].tenant is None and by_key["long-tenant"].event_id is not None
    assert info.num_ack_pending == 0 and info.num_redelivered == 0 and info.num_pending == 0
    async with db.session(read_only=True) as session:
        inbox = await session.scalar(
            select(func.count()).select_from(InboxMessage).where(InboxMessage.consumer == name)  # type: ignore[arg-type]
        )
    assert inbox is not None and inbox >= 2  # the two in bounds (and earlier tests' events)


async def _count_is(letters, n: int) -> bool:  # type: ignore[no-untyped-def]
    return len(await letters()) == n


async def test_a_refused_event_is_named_as_read_and_acknowledged_and_other_types_are_left_alone(
    db: Database, bus: Bus
) -> None:
    """A refused event's dead letter is named by its attributes as `CloudEvent.from_message` reads them (decoded,
    any case), so its tenant lists and replays it; a value holding U+0000 (id, tenant) is refused at the first
    delivery and left out of the letter's names, and a body holding it is kept (in base64): each acknowledged,
    none redelivered. An invalid event of a type the consumer does not apply (another version: subjects do not
    name it) is acknowledged without a dead letter, as any event of such a type."""
    run = f"named-{uuid.uuid4().hex[:8]}"
    name = unique_consumer()

    async def apply_ours(session, event: CloudEvent) -> None:  # type: ignore[no-untyped-def]
        if event.data.get("key", "").startswith(run):  # the stream holds earlier tests' events too
            await apply_effect(session, event)

    consumer = Consumer(
        db, bus, name=name, handlers={EVENTS.service_created.type: apply_ours}, max_deliveries=5, ack_wait=2.0
    )
    stream = STREAMS["catalog"].name
    await consumer._ensure_consumer(stream, consumer.subscriptions()[stream])
    ours: set[str] = set()

    async def publish(key: str, body: bytes = b"{}", built_for: str = "acme", **overrides: str) -> str:
        event = EVENTS.service_created.build(tenant=built_for, data=service_event(f"{run}-{key}"))
        headers = {**event.headers(), **{f"ce-{name}": value for name, value in overrides.items()}}
        if key == "mixed-case":  # a publisher may send the attributes' keys in any case
            headers = {name.title() if name.startswith("ce-") else name: value for name, value in headers.items()}
        marker = f"{run}-{key}"
        ours.add(marker)
        await bus.js.publish(EVENTS.service_created.subject, body, headers={**headers, "Nats-Msg-Id": marker})
        return event.id

    async def letters() -> dict[str, DeadLetter]:
        async with db.session(read_only=True) as session:
            kept = await session.scalars(select(DeadLetter).where(DeadLetter.consumer == name))
            return {
                letter.headers["Nats-Msg-Id"].removeprefix(f"{run}-"): letter
                for letter in kept
                if letter.headers.get("Nats-Msg-Id") in ours
            }

    await publish("spaced", built_for="Acme Corp", id=LONG_ID)
    await publish("mixed-case", built_for="Acme Corp", id=LONG_ID)
    longest_spaced = "Acme Corp " + "t" * (TENANT_MAX_LENGTH - 10)  # longer than its column once percent-encoded
    await publish("longest-spaced", built_for=longest_spaced, id=LONG_ID)
    await publish("nul-id", id="a%00b")
    await publish("nul-tenant", tenant="ac%00me")
    await publish("nul-body", body=b'{"key": "a\x00b"}')
    await publish("other-version", type=EVENTS.service_created.type.replace(".v1", ".v2"), id=LONG_ID)
    after = await publish("after", body=json.dumps({"key": f"{run}-after"}).encode())
    task = asyncio.create_task(consumer.run())
    try:
        await wait_until(lambda: _count_is_dict(letters, 6), timeout=30)
        await asyncio.sleep(2 * consumer.ack_wait)  # a message left unacknowledged would be delivered again by now
        info = await bus.js.consumer_info(stream, name)
        kept = await letters()
        async with db.session(read_only=True) as session:
            visible = await session.scalars(matching("Acme Corp", DeadLetterFilter(consumer=name)))
            acme_corp = {letter.id for letter in visible if letter.headers.get("Nats-Msg-Id") in ours}
            visible = await session.scalars(matching(longest_spaced, DeadLetterFilter(consumer=name)))
            spaced_tenant = {letter.id for letter in visible if letter.headers.get("Nats-Msg-Id") in ours}
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)  # ended before the database is disposed
    assert info.num_ack_pending == 0 and info.num_redelivered == 0 and info.num_pending == 0
    assert sorted(kept) == ["longest-spaced", "mixed-case", "nul-body", "nul-id", "nul-tenant", "spaced"]
    assert all(letter.deliveries == 1 for letter in kept.values())
    assert kept["spaced"].tenant == kept["mixed-case"].tenant == "Acme Corp"
    assert acme_corp == {kept["spaced"].id, kept["mixed-case"].id}  # its tenant lists them (the earlier run's too)
    assert spaced_tenant == {kept["longest-spaced"].id}
    assert kept["nul-id"].event_id is None and kept["nul-id"].tenant == "acme"
    assert kept["nul-id"].error.startswith("invalid event: id: ") and kept["nul-id"].headers["ce-id"] == "a%00b"
    assert kept["nul-tenant"].tenant is None and kept["nul-tenant"].error.startswith("invalid event: tenant: ")
    body = kept["nul-body"]
    assert body.error.startswith("unreadable event: ") and body.body.startswith(BASE64_BODY)
    assert base64.b64decode(body.body.removeprefix(BASE64_BODY)) == b'{"key": "a\x00b"}'
    with pytest.raises(ValueError):  # unreadable as its message was
        await replay(consumer, body)
    assert await count_effects(db, after) == 1  # the event in bounds after them


async def test_a_letter_kept_without_an_id_header_replays_under_the_id_kept_with_it(db: Database, bus: Bus) -> None:
    """Before a received event had to name its id, one without `ce-id` was applied (and dead-lettered) under a
    fresh one, kept in the letter's `event_id`: it replays under that id, once."""
    consumer = Consumer(db, bus, name=unique_consumer(), handlers={EVENTS.service_created.type: apply_effect})
    event = EVENTS.service_created.build(tenant="acme", data=service_event("kept-before"))
    headers = {name: value for name, value in event.headers().items() if name != "ce-id"}
    async with db.session() as session:
        letter = DeadLetter(
            consumer=consumer.name,
            stream=STREAMS["catalog"].name,
            subject=EVENTS.service_created.subject,
            event_id=event.id,
            event_type=event.type,
            tenant="acme",
            headers=headers,
            body=json.dumps(event.data),
            error="downstream rejected it",
            deliveries=5,
        )
        session.add(letter)
    await replay(consumer, letter)
    await replay(consumer, letter)
    assert await count_effects(db, event.id) == 1


async def _count_is_dict(letters, n: int) -> bool:  # type: ignore[no-untyped-def]
    return len(await letters()) == n


async def test_a_malformed_type_is_acknowledged_and_logged_and_a_missing_type_dead_lettered(
    db: Database, bus: Bus, caplog: pytest.LogCaptureFixture
) -> None:
    """A type too long, empty or holding U+0000 is one no consumer applies: acknowledged, as any such type, without
    a dead letter, and logged (info the first time a consumer meets it, debug after). An event with no type at all
    is dead-lettered naming it."""
    run = f"types-{uuid.uuid4().hex[:8]}"
    name = unique_consumer()

    async def apply_ours(session, event: CloudEvent) -> None:  # type: ignore[no-untyped-def]
        if event.data.get("key", "").startswith(run):
            await apply_effect(session, event)

    consumer = Consumer(db, bus, name=name, handlers={EVENTS.service_created.type: apply_ours}, ack_wait=2.0)
    stream = STREAMS["catalog"].name
    await consumer._ensure_consumer(stream, consumer.subscriptions()[stream])
    ours: set[str] = set()

    async def publish(key: str, **overrides: str | None) -> str:
        event = EVENTS.service_created.build(tenant="acme", data=service_event(f"{run}-{key}"))
        headers = {**event.headers(), **{f"ce-{k}": v for k, v in overrides.items() if v is not None}}
        headers = {k: v for k, v in headers.items() if k[3:] not in overrides or overrides[k[3:]] is not None}
        marker = f"{run}-{key}"
        ours.add(marker)
        body = json.dumps(event.data).encode()
        await bus.js.publish(EVENTS.service_created.subject, body, headers={**headers, "Nats-Msg-Id": marker})
        return event.id

    long_type = run + "t" * EVENT_TYPE_MAX_LENGTH  # this run's (the stream holds earlier runs' too)
    await publish("long-type", type=long_type)
    await publish("long-type-again", type=long_type)
    await publish("empty-type", type="")
    await publish("nul-type", type="slm.catalog%00.service.created.v1")
    await publish("no-type", type=None)
    after = await publish("after")

    async def letters() -> dict[str, DeadLetter]:
        async with db.session(read_only=True) as session:
            kept = await session.scalars(select(DeadLetter).where(DeadLetter.consumer == name))
            return {
                letter.headers["Nats-Msg-Id"].removeprefix(f"{run}-"): letter
                for letter in kept
                if letter.headers.get("Nats-Msg-Id") in ours
            }

    with caplog.at_level(logging.DEBUG, logger="slm_shared.bus.inbox"):
        task = asyncio.create_task(consumer.run())
        try:
            await wait_until(lambda: _count_is_dict(letters, 1), timeout=30)
            await wait_until(lambda: _applied(db, after), timeout=30)
            await asyncio.sleep(2 * consumer.ack_wait)  # an unacknowledged message would be delivered again by now
            info = await bus.js.consumer_info(stream, name)
            kept = await letters()
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    assert info.num_ack_pending == 0 and info.num_redelivered == 0 and info.num_pending == 0
    assert sorted(kept) == ["no-type"] and kept["no-type"].error.startswith("invalid event: type: ")
    logged = [(r.levelno, r.getMessage()) for r in caplog.records if f"consumer {name} acknowledged" in r.getMessage()]
    assert [level for level, message in logged if f"'{run}ttt" in message] == [logging.INFO, logging.DEBUG], logged
    assert any(level == logging.INFO and "type is empty" in message for level, message in logged), logged
    assert any(level == logging.INFO and "U+0000" in message for level, message in logged), logged


async def _applied(db: Database, event_id: str) -> bool:
    return await count_effects(db, event_id) == 1
