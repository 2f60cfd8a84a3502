"""Outbox relay throughput against plain pipelined JetStream publishing of the same events (no outbox),
the cost of JetStream's `sync_interval: always` (acknowledged means on disk), and, for reference,
the relay publishing one event per transaction (measured on a tenth of the events).

Usage: .venv/bin/python bench/outbox_bench.py [events]
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sqlmodel import SQLModel

import slm_shared.bus.models  # noqa: F401 - registers the outbox table
from slm_shared.bus import Bus, OutboxRelay, record_event
from slm_shared.contracts import EVENTS
from slm_shared.contracts.payloads import ServiceCreatedV1
from slm_shared.db import Database
from slm_shared.testing.nats_server import NatsServer


async def fill_outbox(db: Database, events: int) -> None:
    async with db.session() as session:
        for i in range(events):
            data = ServiceCreatedV1(service_id=str(uuid.uuid4()), key=f"svc-{i}", name=f"Service {i}")
            record_event(session, EVENTS.service_created, tenant="bench", data=data)


async def relay_all(db: Database, bus: Bus, *, batch_size: int) -> float:
    relay = OutboxRelay(db, bus, batch_size=batch_size)
    start = time.perf_counter()
    while True:  # until a read of the table finds nothing (a batch of copies JetStream held counts as read)
        await relay.relay_once()
        if not relay.last_read:
            break
    return time.perf_counter() - start


async def run_case(root: Path, events: int, *, sync_always: bool, batch_size: int) -> float:
    server = NatsServer(root / f"nats-{sync_always}-{batch_size}", sync_always=sync_always).start()
    db = Database(f"sqlite+aiosqlite:///{root / f'outbox-{sync_always}-{batch_size}.db'}")
    async with db.engine.begin() as connection:
        await connection.run_sync(SQLModel.metadata.create_all)
    bus = Bus(server.url, name="bench")
    try:
        await bus.connect(attempts=20)
        await bus.ensure_platform_streams()
        await fill_outbox(db, events)
        elapsed = await relay_all(db, bus, batch_size=batch_size)
        return events / elapsed
    finally:
        await bus.close()
        await db.dispose()
        server.stop()


async def plain_publish(root: Path, events: int) -> float:
    """Events per second publishing the same events straight to JetStream, 200 in flight, no database."""
    server = NatsServer(root / "nats-plain", sync_always=True).start()
    bus = Bus(server.url, name="bench")
    try:
        await bus.connect(attempts=20)
        await bus.ensure_platform_streams()
        spec = EVENTS.service_created
        bodies = [
            ServiceCreatedV1(service_id=str(uuid.uuid4()), key=f"svc-{i}", name=f"Service {i}") for i in range(events)
        ]
        start = time.perf_counter()
        for offset in range(0, events, 200):
            await asyncio.gather(
                *(
                    bus.js.publish(spec.subject, b.model_dump_json().encode(), headers={"Nats-Msg-Id": b.service_id})
                    for b in bodies[offset : offset + 200]
                )
            )
        return events / (time.perf_counter() - start)
    finally:
        await bus.close()
        server.stop()


async def main(events: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        plain = await plain_publish(root, events)
        pipelined = await run_case(root, events, sync_always=True, batch_size=200)
        pipelined_async_sync = await run_case(root, events, sync_always=False, batch_size=200)
        one_by_one = await run_case(root, max(events // 10, 100), sync_always=True, batch_size=1)
    print(f"events: {events}")
    print(f"plain pipelined JetStream publish, no outbox (sync always): {plain:8.0f} events/s")
    print(f"outbox relay, batches of 200                 (sync always): {pipelined:8.0f} events/s")
    print(f"outbox relay, batches of 200                (default sync): {pipelined_async_sync:8.0f} events/s")
    print(f"outbox relay, one event per transaction      (sync always): {one_by_one:8.0f} events/s")
    print(f"ratio relay / plain publish: {pipelined / plain:.2f}x")
    print(f"cost of sync_interval always: {pipelined_async_sync / pipelined:.2f}x slower than default sync")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 5000))
