"""An outbox row's `sent_at` is its own publish acknowledgement's instant, on SQLite and PostgreSQL.

The events of one commit are published together; the first is in the stream (and on its way to the
consumers) before the last one's acknowledgement comes, so each row is stamped when its own came.
A slow acknowledgement is made with a real NATS responder on the row's subject that answers late.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import datetime

import pytest
from bus_helpers import outbox_sent, service_event, wait_until
from nats.aio.msg import Msg
from sqlalchemy import select, update

from slm_shared.bus import Bus, OutboxMessage, OutboxRelay, record_event
from slm_shared.bus.outbox import ROWS_KEY
from slm_shared.contracts import EVENTS
from slm_shared.db import Database, utcnow

SLOW_SECONDS = 0.5


async def _slow_acknowledger(bus: Bus, replied: list[datetime]) -> str:
    """A subject whose publish acknowledgement (a PubAck, as JetStream sends it) comes SLOW_SECONDS late."""
    subject = f"test.slow-ack.{uuid.uuid4().hex[:8]}"

    async def answer(message: Msg) -> None:
        await asyncio.sleep(SLOW_SECONDS)
        replied.append(utcnow())
        await message.respond(json.dumps({"stream": "SLOW", "seq": len(replied)}).encode())

    assert bus.nc is not None
    await bus.nc.subscribe(subject, cb=answer)
    await bus.nc.flush()
    return subject


async def _sent_at(db: Database, event_id: str) -> datetime:
    async with db.session(read_only=True) as session:
        found = await session.scalar(select(OutboxMessage.sent_at).where(OutboxMessage.event_id == event_id))
    assert found is not None
    return found


async def _assert_each_stamped_at_its_own_ack(db: Database, fast: str, slow: str, replied: list[datetime]) -> None:
    fast_at, slow_at = await _sent_at(db, fast), await _sent_at(db, slow)
    assert len(replied) == 1
    assert fast_at < replied[0] <= slow_at  # the fast row was acknowledged before the slow one was answered
    assert (slow_at - fast_at).total_seconds() >= SLOW_SECONDS - 0.1


@pytest.mark.parametrize("path", ["read from the table", "handed over by the commit"])
async def test_each_row_of_a_batch_is_stamped_sent_when_its_own_acknowledgement_came(
    db: Database, bus: Bus, path: str
) -> None:
    replied: list[datetime] = []
    slow_subject = await _slow_acknowledger(bus, replied)
    relay = OutboxRelay(db, bus, poll_seconds=30.0, hand_over=path != "read from the table")
    if path == "read from the table":
        async with db.session() as session:
            fast = record_event(session, EVENTS.service_created, tenant="acme", data=service_event("fast")).id
            slow = record_event(session, EVENTS.service_created, tenant="acme", data=service_event("slow")).id
        async with db.session() as session:
            await session.execute(
                update(OutboxMessage).where(OutboxMessage.event_id == slow).values(subject=slow_subject)
            )
        assert await relay.relay_once() == 2
    else:
        task = asyncio.create_task(relay.run())
        try:
            await asyncio.sleep(0.2)  # the first round reads the (empty) table; then it sleeps 30 s
            async with db.session() as session:
                fast = record_event(session, EVENTS.service_created, tenant="acme", data=service_event("fast")).id
                slow = record_event(session, EVENTS.service_created, tenant="acme", data=service_event("slow")).id
                session.info[ROWS_KEY][-1].subject = slow_subject  # its publish is answered late
            await wait_until(lambda: outbox_sent(db, slow), timeout=10.0)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    await _assert_each_stamped_at_its_own_ack(db, fast, slow, replied)
