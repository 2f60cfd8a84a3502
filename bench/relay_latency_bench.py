"""Outbox relay latency: one event committed -> received by a NATS subscriber, through the running relay.

The relays' time starts when the commit completes (a commit hook beside the relay's own, before the
session hands its connection back); the plain publish's when it is called.

  ours     : the relay publishes the rows the commit hands over (no read of the outbox table)
  baseline : the same relay reading the committed rows back from the table first (`hand_over=False`)
  floor    : a plain nats-py JetStream publish of an event like it (same subject, CloudEvents headers,
             `Nats-Msg-Id` and body size), awaited, then received: no database, no relay

The two relays and the plain publish alternate event by event on one database and one NATS server
with `sync_interval: always` (acknowledged means on disk), as the stack and the tests run it. Prints
p50 / p99 from the commit to the subscriber receiving the event and to the publisher seeing JetStream's
acknowledgement (a relay's `sent_at`, the end of the breach bench's "event row -> published"), ours /
baseline and ours / floor (what the relay adds to the publish it cannot avoid).

`--sync both` runs the same measurement on two NATS servers side by side, one with `sync_interval:
always` and one with JetStream's default sync (flushed in the background, acknowledged before it is on
disk), each with its own database, alternating event by event; it prints both and the difference, what
"acknowledged means stored" costs.

Run: .venv/bin/python bench/relay_latency_bench.py [--database sqlite|postgresql|both] [--events 200]
     [--sync always|default|both]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import nats
from benchlib.stack import databases
from benchlib.stats import percentile
from nats.aio.client import Client
from nats.aio.msg import Msg
from sqlmodel import SQLModel, col, select

import slm_shared.bus.models  # noqa: F401 - registers the outbox table
from slm_shared.bus import Bus, OutboxRelay, record_event
from slm_shared.bus.models import OutboxMessage
from slm_shared.contracts import EVENTS
from slm_shared.contracts.payloads import ServiceCreatedV1
from slm_shared.db import Database, utcnow
from slm_shared.tasks import stop_tasks
from slm_shared.testing.nats_server import NatsServer
from slm_shared.testing.postgres import PostgresServer

SYNCS = {"always": "sync_interval: always", "default": "JetStream's default sync"}
SERIES = (
    ("ours", "relay, rows handed over"),
    ("baseline", "relay, rows read back"),
    ("floor", "plain JetStream publish"),
)


@dataclass
class Side:
    """One NATS server (its JetStream sync) with its own database, the two relays and what they measured."""

    sync: str
    nats_server: NatsServer
    bus: Bus
    listener: Client
    dbs: dict[str, Database]
    tasks: list[asyncio.Task[None]]
    received: dict[str, list[float]] = field(default_factory=lambda: {name: [] for name, _ in SERIES})
    acknowledged: dict[str, list[float]] = field(default_factory=lambda: {name: [] for name, _ in SERIES})
    committed: dict[str, tuple[str, datetime]] = field(default_factory=dict)  # event id -> (relay, commit instant)


async def open_side(sync: str, root: Path, url: str, arrived: dict[str, asyncio.Future[float]]) -> Side:
    nats_server = NatsServer(root / f"nats-{sync}", sync_always=sync == "always").start()
    bus = Bus(nats_server.url, name="bench")
    await bus.connect(attempts=20)
    await bus.ensure_platform_streams()
    listener = await nats.connect(nats_server.url)

    async def received(message: Msg) -> None:
        waiter = arrived.pop((message.headers or {}).get("ce-id", ""), None)
        if waiter is not None and not waiter.done():
            waiter.set_result(time.perf_counter())

    await listener.subscribe("slm.catalog.>", cb=received)
    await listener.flush()
    dbs = {name: Database(url) for name in ("ours", "baseline")}
    async with dbs["ours"].engine.begin() as connection:
        await connection.run_sync(SQLModel.metadata.create_all)
    relays = [OutboxRelay(db, bus, poll_seconds=5.0, hand_over=name == "ours") for name, db in dbs.items()]
    tasks = [asyncio.create_task(relay.run()) for relay in relays]
    return Side(sync, nats_server, bus, listener, dbs, tasks)


async def one_event(db: Database, arrived: dict[str, asyncio.Future[float]]) -> tuple[float, str, datetime]:
    """Seconds from the commit (the database's answer to COMMIT) to the subscriber receiving the event; the
    event's id and the commit's instant (for its `sent_at`)."""
    data = ServiceCreatedV1(service_id=str(uuid.uuid4()), key="latency", name="Latency")
    committed: list[tuple[float, datetime]] = []

    def stamp(_session: object) -> None:  # runs right after the relay's own commit hook
        committed.append((time.perf_counter(), utcnow()))

    db.after_commit.append(stamp)
    try:
        async with db.session() as session:
            event = record_event(session, EVENTS.service_created, tenant="bench", data=data)
            waiter = arrived[event.id] = asyncio.get_running_loop().create_future()
    finally:
        db.after_commit.remove(stamp)
    return await asyncio.wait_for(waiter, 10) - committed[0][0], event.id, committed[0][1]


async def plain_publish(side: Side, arrived: dict[str, asyncio.Future[float]]) -> tuple[float, float]:
    """Seconds from a plain JetStream publish to its acknowledgement, and to the subscriber receiving it."""
    data = ServiceCreatedV1(service_id=str(uuid.uuid4()), key="latency", name="Latency")
    event = EVENTS.service_created.build(tenant="bench", data=data)
    body = json.dumps(event.data, separators=(",", ":")).encode()
    waiter = arrived[event.id] = asyncio.get_running_loop().create_future()
    started = time.perf_counter()
    headers = {**event.headers(), "Nats-Msg-Id": event.id}
    await side.bus.js.publish(EVENTS.service_created.subject, body, headers=headers)
    acknowledged = time.perf_counter()
    return acknowledged - started, await asyncio.wait_for(waiter, 10) - started


async def relays_acknowledged(side: Side) -> None:
    """Each relayed event's commit -> its relay seeing JetStream's acknowledgement (`sent_at`), once all are marked."""
    for _ in range(200):
        async with side.dbs["ours"].session(read_only=True) as session:
            sent = dict((await session.execute(select(col(OutboxMessage.event_id), col(OutboxMessage.sent_at)))).all())
        if all(sent.get(event_id) for event_id in side.committed):
            break
        await asyncio.sleep(0.05)
    else:
        raise RuntimeError("relayed events still unmarked after 10 s")
    for event_id, (name, committed) in side.committed.items():
        side.acknowledged[name].append((sent[event_id] - committed).total_seconds())


async def close_side(side: Side) -> None:
    await stop_tasks(side.tasks, grace_seconds=5)
    await side.listener.close()
    await side.bus.close()
    for db in side.dbs.values():
        await db.dispose()
    side.nats_server.stop()


async def bench(database: str, events: int, syncs: list[str], root: Path) -> None:
    postgres = PostgresServer().start() if database == "postgresql" else None
    sides: list[Side] = []
    arrived: dict[str, asyncio.Future[float]] = {}
    try:
        for sync in syncs:  # each server its own database: no relay reads rows meant for the other server
            url = (
                postgres.create_database(f"relay_latency_{sync}")
                if postgres
                else f"sqlite+aiosqlite:///{root / f'relay-{sync}.db'}"
            )
            sides.append(await open_side(sync, root, url, arrived))
        for index in range(events + 10):  # the first ten of each warm up
            for side in sides:
                for name in ("ours", "baseline"):
                    took, event_id, committed = await one_event(side.dbs[name], arrived)
                    if index >= 10:
                        side.received[name].append(took)
                        side.committed[event_id] = (name, committed)
                acked, took = await plain_publish(side, arrived)
                if index >= 10:
                    side.acknowledged["floor"].append(acked)
                    side.received["floor"].append(took)
        for side in sides:
            await relays_acknowledged(side)
    finally:
        for side in sides:
            await close_side(side)
        if postgres is not None:
            postgres.stop()
    for side in sides:
        report(database, events, side)
    if len(sides) == 2:
        report_sync_cost(*sides)


def p50_p99(values: list[float]) -> tuple[float, float]:
    return percentile(values, 0.5) * 1000, percentile(values, 0.99) * 1000


def report(database: str, events: int, side: Side) -> None:
    print(f"\n{database}, {SYNCS[side.sync]}: {events} events each, one at a time, alternating")
    print(f"  {'':<26} {'commit -> received':<34} commit -> acknowledged")
    ms = {name: (p50_p99(side.received[name]), p50_p99(side.acknowledged[name])) for name, _ in SERIES}
    for name, label in SERIES:
        (r50, r99), (a50, a99) = ms[name]
        print(f"  {label:<26} p50 {r50:7.2f} ms   p99 {r99:7.2f} ms   p50 {a50:7.2f} ms   p99 {a99:7.2f} ms")
    for other, label in (("baseline", "ours / baseline"), ("floor", "ours / floor")):
        (r50, r99), (a50, a99) = ms["ours"]
        (b50, b99), (c50, c99) = ms[other]
        print(
            f"  {label:<26} p50 {r50 / b50:7.2f} x    p99 {r99 / b99:7.2f} x    "
            f"p50 {a50 / c50:7.2f} x    p99 {a99 / c99:7.2f} x"
        )


def report_sync_cost(always: Side, default: Side) -> None:
    """What `sync_interval: always` adds to each figure, p50 against p50 and p99 against p99."""
    print(f"\n  {SYNCS['always']} - {SYNCS['default']}, the same run:")
    print(f"  {'':<26} {'commit -> received':<34} commit -> acknowledged")
    for name, label in SERIES:
        (r50, r99), (a50, a99) = p50_p99(always.received[name]), p50_p99(always.acknowledged[name])
        (d50, d99), (e50, e99) = p50_p99(default.received[name]), p50_p99(default.acknowledged[name])
        print(
            f"  {label:<26} p50 {r50 - d50:+7.2f} ms   p99 {r99 - d99:+7.2f} ms   "
            f"p50 {a50 - e50:+7.2f} ms   p99 {a99 - e99:+7.2f} ms"
        )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument(
        "--sync",
        choices=["always", "default", "both"],
        default="always",
        help="JetStream's sync: `sync_interval: always` (as the stack), its default, or both side by side",
    )
    args = parser.parse_args()
    syncs = ["always", "default"] if args.sync == "both" else [args.sync]
    for database in databases(args.database):
        with tempfile.TemporaryDirectory(prefix="slm-relay-latency-") as folder:
            await bench(database, args.events, syncs, Path(folder))


if __name__ == "__main__":
    asyncio.run(main())
