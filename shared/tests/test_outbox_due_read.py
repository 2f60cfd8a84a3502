"""The outbox relay, against the real NATS server, on SQLite and PostgreSQL: in the round where the poll interval
makes it read the table, the rows a commit handed over are published first, from the hand-over, not after that
read (which then finds them marked sent)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from bus_helpers import outbox_sent, service_event, wait_until

from slm_shared.bus import Bus, OutboxRelay, record_event
from slm_shared.contracts import EVENTS
from slm_shared.db import Database

POLL_SECONDS = 2.0  # each event is committed as soon as the one before is sent: the wait never times out


async def test_rows_handed_over_in_the_round_the_poll_makes_read_the_table_are_published_before_that_read(
    db: Database, bus: Bus, monkeypatch: pytest.MonkeyPatch
) -> None:
    relay = OutboxRelay(db, bus, poll_seconds=POLL_SECONDS)
    steps: list[tuple[str, str]] = []  # ("read", "") for each read of the table, ("published", event id)
    read, publish = relay.relay_once, bus.js.publish

    async def logged_read() -> int:
        steps.append(("read", ""))
        return await read()

    async def logged_publish(subject: str, payload: bytes, *args: Any, **kwargs: Any) -> Any:
        steps.append(("published", kwargs["headers"]["Nats-Msg-Id"]))
        return await publish(subject, payload, *args, **kwargs)

    monkeypatch.setattr(relay, "relay_once", logged_read)
    monkeypatch.setattr(bus.js, "publish", logged_publish)
    task = asyncio.create_task(relay.run())
    try:
        await wait_until(lambda: _reads(steps, 1))  # the first round reads the table
        committed: list[str] = []
        async with asyncio.timeout(30):
            while steps.count(("read", "")) < 2:  # until the poll interval has made a round read the table again
                async with db.session() as session:
                    event = record_event(session, EVENTS.service_created, tenant="acme", data=service_event("due"))
                committed.append(event.id)
                await wait_until(lambda event_id=event.id: outbox_sent(db, event_id), timeout=10.0)
        second_read = [index for index, step in enumerate(steps) if step == ("read", "")][1]
        last = committed[-1]  # committed before that round, handed over to it
        assert steps.index(("published", last)) < second_read, steps[-4:]
        assert ("published", last) not in steps[second_read:]  # that read found it marked: not published again
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def _reads(steps: list[tuple[str, str]], count: int) -> bool:
    return steps.count(("read", "")) >= count
