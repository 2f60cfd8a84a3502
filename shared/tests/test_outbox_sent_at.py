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
from typing import Any

import pytest
from bus_helpers import outbox_sent, service_event, wait_until
from nats.aio.msg import Msg
from sqlalchemy import event, func, select, update
from sqlmodel import col

from slm_shared.bus import Bus, OutboxMessage, OutboxRelay, record_event
from slm_shared.bus.record import ROWS_KEY
from slm_shared.contracts import EVENTS
from slm_shared.db import Database, utcnow

SLOW_SECONDS = 0.5


def unsent_clause() -> Any:
    return col(OutboxMessage.sent_at).is_(None)


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
        scanned, handed = asyncio.Event(), []
        relay_once, relay_handed = relay.relay_once, relay.relay_handed

        async def first_read() -> int:
            try:
                return await relay_once()
            finally:
                scanned.set()

        async def hand_over(rows: list[Any]) -> int:
            handed.extend(row.seq for row in rows)
            return await relay_handed(rows)

        relay.relay_once, relay.relay_handed = first_read, hand_over  # type: ignore[method-assign]
        task = asyncio.create_task(relay.run())
        try:
            await asyncio.wait_for(scanned.wait(), 10.0)  # the first round read the (empty) table; then it sleeps 30 s
            async with db.session() as session:
                rows = [
                    record_event(session, EVENTS.service_created, tenant="acme", data=service_event(key))
                    for key in ("fast", "slow")
                ]
                session.info[ROWS_KEY][-1].subject = slow_subject  # its publish is answered late
            fast, slow = (row.id for row in rows)
            await wait_until(lambda: outbox_sent(db, slow), timeout=10.0)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        # both were published and marked from the hand-over, not read back from the table
        seqs = await _seqs(db, fast, slow)
        assert sorted(handed) == sorted(seqs) and not relay._scanned & set(seqs)
    await _assert_each_stamped_at_its_own_ack(db, fast, slow, replied)


async def _seqs(db: Database, *event_ids: str) -> list[int]:
    async with db.session(read_only=True) as session:
        found = await session.execute(
            select(OutboxMessage.seq, OutboxMessage.event_id).where(col(OutboxMessage.event_id).in_(event_ids))
        )
    by_id = {event_id: seq for seq, event_id in found.all()}
    return [by_id[event_id] for event_id in event_ids]


async def test_the_mark_is_one_statement_whatever_the_batch_run_once_per_row_with_its_own_instant(
    db: Database, bus: Bus
) -> None:
    """The mark's SQL is the same for a batch of 1 and of 50 (one compiled form, one prepared statement on
    asyncpg, nothing new in the statement cache per batch size), run as one executemany."""
    marks: list[tuple[str, bool, int]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if statement.lstrip().upper().startswith("UPDATE OUTBOX") and "sent_at=" in statement.replace(" ", ""):
            marks.append((statement, executemany, len(parameters) if executemany else 1))

    event.listen(db.engine.sync_engine, "before_cursor_execute", capture)
    relay = OutboxRelay(db, bus, hand_over=False)
    try:
        for count in (1, 50):
            async with db.session() as session:
                for n in range(count):
                    record_event(session, EVENTS.service_created, tenant="acme", data=service_event(f"k{count}-{n}"))
            assert await relay.relay_once() == count
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", capture)
    assert [rows for _, _, rows in marks] == [1, 50], marks  # one statement a batch
    assert marks[1][1], "a batch of 50 is marked in one executemany"
    assert len({statement for statement, _, _ in marks}) == 1, marks
    async with db.session(read_only=True) as session:
        unsent = await session.scalar(select(func.count()).select_from(OutboxMessage).where(unsent_clause()))
        instants = await session.scalar(select(func.count(func.distinct(OutboxMessage.sent_at))))
    assert unsent == 0
    assert instants is not None and instants > 2  # each row its own instant, not one per batch
