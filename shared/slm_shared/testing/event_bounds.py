"""The check every consuming service runs: an event whose id breaks the envelope's bound is refused at receipt.

Published by anyone to a subject the service consumes (a third party, a stale producer), an event whose id is
longer than the inbox keeps (`EVENT_ID_MAX_LENGTH`), empty, or holding U+0000 (which PostgreSQL keeps in no
column), goes to the service's dead letters at its first
delivery with a reason naming `id`, and is acknowledged: it is neither retried nor delivered again.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime

import nats
from fastapi import FastAPI
from sqlalchemy import select
from sqlmodel import col

from slm_shared.bus import Consumer, DeadLetter
from slm_shared.contracts.envelope import EVENT_ID_MAX_LENGTH
from slm_shared.contracts.registry import spec_for_type
from slm_shared.testing.shutdown import publish_retrying

TENANT = "acme"


async def assert_event_ids_out_of_bounds_are_refused(app: FastAPI, nats_url: str) -> None:
    """Publish, for each event type the running `app` consumes, an event with an id one character too long, and
    one with an empty id and one holding U+0000; each is dead-lettered once, at its first delivery, naming `id`,
    and acknowledged.

    `nats_url`: a server of the test's own (the durable consumer's counts are then this test's alone)."""
    consumer: Consumer = app.state.consumer
    assert consumer is not None, "the service consumes no events"
    marker = uuid.uuid4().hex[:8]
    sent: dict[str, str] = {}  # Nats-Msg-Id -> the ce-id it carried
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        for n, event_type in enumerate(sorted(consumer.handlers)):
            spec = spec_for_type(event_type)
            assert spec is not None
            too_long = f"{marker}-{n}-".ljust(EVENT_ID_MAX_LENGTH + 1, "x")
            ids = [too_long] + (["", f"{marker}%00nul"] if n == 0 else [])  # %00: U+0000, which no column keeps
            for k, event_id in enumerate(ids):
                message_id = f"{marker}-{n}-{k}"
                sent[message_id] = event_id
                headers = {
                    "ce-specversion": "1.0",
                    "ce-id": event_id,
                    "ce-source": "/outside",
                    "ce-type": event_type,
                    "ce-time": datetime.now(UTC).isoformat(),
                    "ce-tenant": TENANT,
                    "Nats-Msg-Id": message_id,
                }
                await publish_retrying(js, spec.subject, b"{}", headers)

        async def letters() -> list[DeadLetter]:
            async with app.state.db.session(read_only=True) as session:
                kept = await session.scalars(select(DeadLetter).where(col(DeadLetter.consumer) == consumer.name))
                return [letter for letter in kept if letter.headers.get("Nats-Msg-Id") in sent]

        deadline = time.monotonic() + 30.0
        while len(found := await letters()) < len(sent):
            assert time.monotonic() < deadline, f"{len(found)} of {len(sent)} refused events dead-lettered"
            await asyncio.sleep(0.1)
        streams = consumer.subscriptions()

        async def acknowledged() -> bool:
            infos = [await js.consumer_info(stream, consumer.name) for stream in streams]
            return all(info.num_ack_pending == 0 and info.num_pending == 0 for info in infos)

        while not await acknowledged():  # the dead letter is stored before its message is acknowledged
            assert time.monotonic() < deadline, "a refused event was not acknowledged"
            await asyncio.sleep(0.1)
        for stream in streams:
            assert (await js.consumer_info(stream, consumer.name)).num_redelivered == 0, stream
    finally:
        await nc.close()
    assert len(found) == len(sent) and consumer.applied == 0  # each once
    for letter in found:
        assert letter.deliveries == 1 and letter.error.startswith("invalid event: id: "), letter.error
        assert letter.event_id is None and letter.tenant == TENANT  # named by its tenant; the headers keep the id
        assert letter.headers.get("ce-id", "") == sent[letter.headers["Nats-Msg-Id"]]
