"""CloudEvents attributes travel percent-encoded in NATS headers, as the protocol binding asks."""

from __future__ import annotations

import uuid
from urllib.parse import unquote

import nats

from slm_shared.bus import Bus, OutboxRelay, record_event
from slm_shared.contracts import EVENTS, CloudEvent
from slm_shared.contracts.payloads import ServiceCreatedV1
from slm_shared.db import Database

AWKWARD = 'INC 100%41 "ü"'


async def test_an_outside_consumer_reads_the_subject_as_written(db: Database, bus: Bus) -> None:
    key = f"enc-{uuid.uuid4().hex[:8]}"
    async with db.session() as session:
        event = record_event(
            session,
            EVENTS.service_created,
            tenant="acme",
            subject=AWKWARD,
            data=ServiceCreatedV1(service_id=str(uuid.uuid4()), key=key, name="Encoded"),
        )
    nc = await nats.connect(bus.url)
    try:
        js = nc.jetstream()
        subscription = await js.pull_subscribe(EVENTS.service_created.subject, durable=None, stream="SLM_CATALOG")
        await OutboxRelay(db, bus).relay_once()
        found = None
        for _ in range(50):
            for message in await subscription.fetch(100, timeout=1):
                if message.headers and message.headers.get("ce-id") == event.id:
                    found = message
            if found:
                break
    finally:
        await nc.close()
    assert found is not None and found.headers is not None
    assert found.headers["ce-subject"] == "INC%20100%2541%20%22%C3%BC%22"
    assert unquote(found.headers["ce-subject"]) == AWKWARD
    assert found.headers["ce-datacontenttype"] == "application/json"
    assert CloudEvent.from_message(found.headers, found.data).subject == AWKWARD
