"""Outbox relay latency: one event committed -> received by a NATS subscriber, through the running relay.

The relays' time starts when the commit completes (a commit hook beside the relay's own, before the
session hands its connection back); the plain publish's when it is called.

  ours     : the relay publishes the rows the commit hands over (no read of the outbox table)
  baseline : the same relay reading the committed rows back from the table first (`hand_over=False`)
  floor    : a plain nats-py JetStream publish of an event like it (same subject, CloudEvents headers,
             `Nats-Msg-Id` and body size), awaited, then received: no database, no relay

The two relays and the plain publish alternate event by event on one database and one NATS server
with `sync_interval: always` (acknowledged means on disk). Prints p50 / p99, ours / baseline and
ours / floor (what the relay adds to the publish it cannot avoid).

Run: .venv/bin/python bench/relay_latency_bench.py [--database sqlite|postgresql|both] [--events 200]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
import uuid
from pathlib import Path

import nats
from benchlib.stack import databases
from benchlib.stats import percentile
from nats.aio.msg import Msg
from sqlmodel import SQLModel

import slm_shared.bus.models  # noqa: F401 - registers the outbox table
from slm_shared.bus import Bus, OutboxRelay, record_event
from slm_shared.contracts import EVENTS
from slm_shared.contracts.payloads import ServiceCreatedV1
from slm_shared.db import Database
from slm_shared.tasks import stop_tasks
from slm_shared.testing.nats_server import NatsServer
from slm_shared.testing.postgres import PostgresServer


async def one_event(db: Database, arrived: dict[str, asyncio.Future[float]]) -> float:
    """Seconds from the commit (the database's answer to COMMIT) to the subscriber receiving the event."""
    data = ServiceCreatedV1(service_id=str(uuid.uuid4()), key="latency", name="Latency")
    committed: list[float] = []

    def stamp(_session: object) -> None:  # runs right after the relay's own commit hook
        committed.append(time.perf_counter())

    db.after_commit.append(stamp)
    try:
        async with db.session() as session:
            event = record_event(session, EVENTS.service_created, tenant="bench", data=data)
            waiter = arrived[event.id] = asyncio.get_running_loop().create_future()
    finally:
        db.after_commit.remove(stamp)
    return await asyncio.wait_for(waiter, 10) - committed[0]


async def bench(database: str, events: int, root: Path) -> None:
    nats_server = NatsServer(root / "nats", sync_always=True).start()
    postgres = PostgresServer().start() if database == "postgresql" else None
    try:
        url = postgres.create_database("relay_latency") if postgres else f"sqlite+aiosqlite:///{root / 'relay.db'}"
        bus = Bus(nats_server.url, name="bench")
        await bus.connect(attempts=20)
        await bus.ensure_platform_streams()
        listener = await nats.connect(nats_server.url)
        arrived: dict[str, asyncio.Future[float]] = {}

        async def received(message: Msg) -> None:
            waiter = arrived.pop((message.headers or {}).get("ce-id", ""), None)
            if waiter is not None and not waiter.done():
                waiter.set_result(time.perf_counter())

        await listener.subscribe("slm.catalog.>", cb=received)
        await listener.flush()
        dbs = {name: Database(url) for name in ("ours", "baseline")}
        async with dbs["ours"].engine.begin() as connection:
            await connection.run_sync(SQLModel.metadata.create_all)
        relays = {name: OutboxRelay(db, bus, poll_seconds=5.0, hand_over=name == "ours") for name, db in dbs.items()}
        tasks = [asyncio.create_task(relay.run()) for relay in relays.values()]
        spent: dict[str, list[float]] = {"ours": [], "baseline": [], "floor": []}
        js = bus.js
        for index in range(events + 10):  # the first ten of each warm up
            for name in ("ours", "baseline"):
                took = await one_event(dbs[name], arrived)
                if index >= 10:
                    spent[name].append(took)
            data = ServiceCreatedV1(service_id=str(uuid.uuid4()), key="latency", name="Latency")
            event = EVENTS.service_created.build(tenant="bench", data=data)
            body = json.dumps(event.data, separators=(",", ":")).encode()
            waiter = arrived[event.id] = asyncio.get_running_loop().create_future()
            started = time.perf_counter()
            await js.publish(EVENTS.service_created.subject, body, headers={**event.headers(), "Nats-Msg-Id": event.id})
            took = await asyncio.wait_for(waiter, 10) - started
            if index >= 10:
                spent["floor"].append(took)
        await stop_tasks(tasks, grace_seconds=5)
        await listener.close()
        await bus.close()
        for db in dbs.values():
            await db.dispose()
    finally:
        if postgres is not None:
            postgres.stop()
        nats_server.stop()
    ms = {name: (percentile(values, 0.5) * 1000, percentile(values, 0.99) * 1000) for name, values in spent.items()}
    print(f"\n{database}: {events} events each, one at a time, alternating")
    for name, label in (
        ("ours", "relay, rows handed over"),
        ("baseline", "relay, rows read back"),
        ("floor", "plain JetStream publish"),
    ):
        print(f"  {label:<26} p50 {ms[name][0]:7.2f} ms   p99 {ms[name][1]:7.2f} ms")
    ratio = ms["ours"][0] / ms["baseline"][0], ms["ours"][1] / ms["baseline"][1]
    print(f"  ours / baseline            p50 {ratio[0]:7.2f} x    p99 {ratio[1]:7.2f} x")
    ratio = ms["ours"][0] / ms["floor"][0], ms["ours"][1] / ms["floor"][1]
    print(f"  ours / floor               p50 {ratio[0]:7.2f} x    p99 {ratio[1]:7.2f} x")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--events", type=int, default=200)
    args = parser.parse_args()
    for database in databases(args.database):
        with tempfile.TemporaryDirectory(prefix="slm-relay-latency-") as folder:
            await bench(database, args.events, Path(folder))


if __name__ == "__main__":
    asyncio.run(main())
