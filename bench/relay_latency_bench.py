"""Outbox relay latency: one event committed -> received by a NATS subscriber, through the running relay.

The relays' time starts when the commit completes (a commit hook beside the relay's own, before the
session hands its connection back); the plain publish's when it is called.

  ours     : the relay publishes the rows the commit hands over (no read of the outbox table)
  baseline : the same relay reading the committed rows back from the table first (`hand_over=False`)
  floor    : a plain nats-py JetStream publish of an event like it (same subject, CloudEvents headers,
             `Nats-Msg-Id` and body size), awaited, then received: no database, no relay

The two relays and the plain publish alternate event by event on one NATS server with `sync_interval:
always` (acknowledged means on disk), as the stack and the tests run it, each relay on a database of its
own (as a service's relay is: neither reads, publishes or marks the other's rows). Each event is
measured alone: after a relayed event arrives, the bench waits (untimed) until its relay has seen
JetStream's acknowledgement and committed the row's mark, so no publish, disk sync or mark of one event
overlaps the next. Prints p50 / p99 from the commit to the subscriber receiving the event and to the
publisher seeing JetStream's acknowledgement (a relay's `sent_at`, the end of the breach bench's "event
row -> published"), ours / baseline and ours / floor (what the relay adds to the publish it cannot avoid).

`--sync both` runs the same measurement on two NATS servers side by side, one with `sync_interval:
always` and one with JetStream's default sync (flushed in the background, acknowledged before it is on
disk), each with its own databases, alternating event by event, the side that goes first swapped every
round; it prints both and the difference, what "acknowledged means stored" costs.

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
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import nats
from benchlib.stack import databases
from benchlib.stats import percentile
from nats.aio.msg import Msg
from sqlmodel import SQLModel, col, select

import slm_shared.bus.models  # noqa: F401 - registers the outbox table
from slm_shared.bus import Bus, OutboxRelay, record_event
from slm_shared.bus.models import OutboxMessage
from slm_shared.bus.outbox_row import RelayedRow
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
RELAYS = ("ours", "baseline")


class Relay(OutboxRelay):
    """The relay, resolving `marked` once a round of it has published rows and committed their marks.

    Its database holds only the event the bench waits on, so the first such round is that event's.
    """

    marked: asyncio.Future[None] | None = None

    async def relay_once(self) -> int:
        before = self.published + self.duplicates
        stored = await super().relay_once()
        self._settle(before)
        return stored

    async def relay_handed(self, rows: list[RelayedRow]) -> int:
        before = self.published + self.duplicates
        stored = await super().relay_handed(rows)
        self._settle(before)
        return stored

    def _settle(self, before: int) -> None:
        if self.published + self.duplicates > before and self.marked is not None and not self.marked.done():
            self.marked.set_result(None)


@dataclass
class Side:
    """One NATS server (its JetStream sync), the two relays, each with its own database, and what they measured."""

    sync: str
    bus: Bus
    dbs: dict[str, Database]
    relays: dict[str, Relay]
    received: dict[str, list[float]] = field(default_factory=lambda: {name: [] for name, _ in SERIES})
    acknowledged: dict[str, list[float]] = field(default_factory=lambda: {name: [] for name, _ in SERIES})
    committed: dict[str, tuple[str, datetime]] = field(default_factory=dict)  # event id -> (relay, commit instant)


async def open_side(
    stack: AsyncExitStack, sync: str, root: Path, urls: dict[str, str], arrived: dict[str, asyncio.Future[float]]
) -> Side:
    """Start the side's server, bus, listener, databases and relays, each stopped by `stack` once started."""
    nats_server = NatsServer(root / f"nats-{sync}", sync_always=sync == "always")
    stack.callback(nats_server.stop)  # stops what `start` started, even if it then failed
    nats_server.start()
    bus = Bus(nats_server.url, name="bench")
    stack.push_async_callback(bus.close)
    await bus.connect(attempts=20)
    await bus.ensure_platform_streams()
    listener = await nats.connect(nats_server.url)
    stack.push_async_callback(listener.close)

    async def received(message: Msg) -> None:
        waiter = arrived.pop((message.headers or {}).get("ce-id", ""), None)
        if waiter is not None and not waiter.done():
            waiter.set_result(time.perf_counter())

    await listener.subscribe("slm.catalog.>", cb=received)
    await listener.flush()
    dbs: dict[str, Database] = {}
    for name in RELAYS:
        db = dbs[name] = Database(urls[name])
        stack.push_async_callback(db.dispose)
        async with db.engine.begin() as connection:
            await connection.run_sync(SQLModel.metadata.create_all)
    relays = {name: Relay(db, bus, poll_seconds=5.0, hand_over=name == "ours") for name, db in dbs.items()}
    tasks = [asyncio.create_task(relay.run()) for relay in relays.values()]
    stack.push_async_callback(stop_tasks, tasks, grace_seconds=5)
    return Side(sync, bus, dbs, relays)


async def one_event(side: Side, name: str, arrived: dict[str, asyncio.Future[float]]) -> tuple[float, str, datetime]:
    """Seconds from the commit (the database's answer to COMMIT) to the subscriber receiving the event; the
    event's id and the commit's instant (for its `sent_at`). Returns once the relay has marked the row sent."""
    db, relay = side.dbs[name], side.relays[name]
    data = ServiceCreatedV1(service_id=str(uuid.uuid4()), key="latency", name="Latency")
    committed: list[tuple[float, datetime]] = []

    def stamp(_session: object) -> None:  # runs right after the relay's own commit hook
        committed.append((time.perf_counter(), utcnow()))

    marked = relay.marked = asyncio.get_running_loop().create_future()
    db.after_commit.append(stamp)
    try:
        async with db.session() as session:
            event = record_event(session, EVENTS.service_created, tenant="bench", data=data)
            waiter = arrived[event.id] = asyncio.get_running_loop().create_future()
    finally:
        db.after_commit.remove(stamp)
    took = await asyncio.wait_for(waiter, 10) - committed[0][0]
    await asyncio.wait_for(marked, 10)  # untimed: acknowledged and marked before the next event
    relay.marked = None
    return took, event.id, committed[0][1]


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
    """Each relayed event's commit -> its relay seeing JetStream's acknowledgement (its stored `sent_at`)."""
    sent: dict[str, datetime | None] = {}
    for db in side.dbs.values():
        async with db.session(read_only=True) as session:
            rows = await session.execute(select(col(OutboxMessage.event_id), col(OutboxMessage.sent_at)))
            sent.update((event_id, sent_at) for event_id, sent_at in rows)
    for event_id, (name, committed) in side.committed.items():
        sent_at = sent.get(event_id)
        if sent_at is None:
            raise RuntimeError(f"event {event_id} ({name}) awaited as marked but unmarked")
        side.acknowledged[name].append((sent_at - committed).total_seconds())


async def bench(database: str, events: int, syncs: list[str], root: Path) -> None:
    sides: list[Side] = []
    arrived: dict[str, asyncio.Future[float]] = {}
    async with AsyncExitStack() as stack:  # whatever fails, every server, connection and task started is stopped
        postgres: PostgresServer | None = None
        if database == "postgresql":
            postgres = PostgresServer()
            stack.callback(postgres.stop)
            postgres.start()
        for sync in syncs:  # each server its databases: no relay reads rows of the other server or relay
            urls = {
                name: postgres.create_database(f"relay_latency_{sync}_{name}")
                if postgres
                else f"sqlite+aiosqlite:///{root / f'relay-{sync}-{name}.db'}"
                for name in RELAYS
            }
            sides.append(await open_side(stack, sync, root, urls, arrived))
        for index in range(events + 10):  # the first ten of each warm up
            for side in sides if index % 2 == 0 else sides[::-1]:  # neither server always goes first
                for name in RELAYS:
                    took, event_id, committed = await one_event(side, name, arrived)
                    if index >= 10:
                        side.received[name].append(took)
                        side.committed[event_id] = (name, committed)
                acked, took = await plain_publish(side, arrived)
                if index >= 10:
                    side.acknowledged["floor"].append(acked)
                    side.received["floor"].append(took)
        for side in sides:
            await relays_acknowledged(side)
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
