"""Outbox relay throughput: pipelined publishing vs one publish-and-wait per event,
and the cost of JetStream's `sync_interval: always` (acknowledged means on disk).

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
    while await relay.relay_once():
        pass
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


async def main(events: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        one_by_one = await run_case(root, events, sync_always=True, batch_size=1)
        pipelined = await run_case(root, events, sync_always=True, batch_size=200)
        pipelined_async_sync = await run_case(root, events, sync_always=False, batch_size=200)
    print(f"events: {events}")
    print(f"one publish-and-wait per event (sync always): {one_by_one:10.0f} events/s")
    print(f"pipelined batches of 200      (sync always): {pipelined:10.0f} events/s")
    print(f"pipelined batches of 200      (default sync): {pipelined_async_sync:9.0f} events/s")
    print(f"ratio pipelined / one-by-one: {pipelined / one_by_one:.1f}x")
    print(f"cost of sync_interval always: {pipelined_async_sync / pipelined:.2f}x slower than default sync")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 5000))
