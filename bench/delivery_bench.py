"""Notifier deliveries end to end (event in -> webhook received), against plain httpx posting.

  plain httpx : one pooled httpx.AsyncClient posting the same JSON bodies, 16 at a time
  notifier    : the real notifier process (uvicorn, SQLite or PostgreSQL; NATS alone beside it): `objective.breached`
                events published to JetStream -> idempotent inbox -> delivery rows -> claim, sign
                (Standard Webhooks), check the target, POST, record the attempt. `--burn-alerts`: each breach
                followed by its objective's burn alert, as measurement emits them (both delivered; the
                deliveries per round are then half breaches, half burn alerts)

Both post to the same uvicorn receiver on 127.0.0.1; rounds are interleaved; ratios round by round.
The notifier may have 16 attempts in flight to the subscription (as many as plain httpx). Also
prints the notifier process's CPU time per delivery. Goal: notifier / plain >= 0.5.

Then the notifier's part of breach latency, one event at a time (`--singles`, 0 to skip): publish ->
webhook received, and inbox -> attempt started from the notifier's own tables (the stage
bench/breach_bench.py reports inside the whole stack), against one plain httpx POST at a time.

Run: .venv/bin/python bench/delivery_bench.py [--database sqlite|postgresql|both] [--deliveries 300] [--rounds 3]
     [--singles 30] [--burn-alerts]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import nats
from benchlib import stages
from benchlib.serving import in_process_server, run_on_server_loop
from benchlib.stack import READY_SECONDS, databases, token
from benchlib.stats import line, percentile, ratios

from slm_shared.contracts import CloudEvent
from slm_shared.contracts.payloads import BurnAlertV1
from slm_shared.contracts.registry import EVENTS
from slm_shared.testing.breaches import breach, breach_events, publish_events
from slm_shared.testing.ports import free_port
from slm_shared.testing.postgres import PostgresServer
from tools.devstack import Stack

CONCURRENCY = 16


class Receiver:
    """The smallest ASGI receiver: read the body, count it, answer 204."""

    def __init__(self) -> None:
        self.received = 0
        self.arrived = asyncio.Event()
        self.expected = 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        more = True
        while more:
            message = await receive()
            more = message.get("more_body", False)
        self.received += 1
        if self.received >= self.expected:
            self.arrived.set()
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    def expect(self, count: int) -> None:
        self.received, self.expected = 0, count
        self.arrived.clear()


@contextlib.contextmanager
def notifier_stack(database: str, **env: str) -> Iterator[Stack]:
    """NATS and the notifier alone (nothing else competes for the CPU), on SQLite or PostgreSQL."""
    with tempfile.TemporaryDirectory(prefix="slm-bench-") as folder:
        data = Path(folder)
        postgres = PostgresServer().start() if database == "postgresql" else None
        try:
            url = postgres.create_database("notifier") if postgres else f"sqlite+aiosqlite:///{data / 'notifier.db'}"
            stack = Stack.on_free_ports(
                data, database_urls={"notifier": url}, extra_env={"SLM_LOG_LEVEL": "WARNING", **env}
            )
            try:
                stack.start_nats()
                stack.start_service("notifier", wait=False)
                stack.wait_ready("notifier", timeout=READY_SECONDS)
                yield stack
            finally:
                stack.stop()
        finally:
            if postgres is not None:
                postgres.stop()


@contextlib.asynccontextmanager
async def serving(app: Receiver) -> AsyncIterator[str]:
    port = free_port()
    server = in_process_server(app, port, lifespan="off")
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn offers no event to wait on
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}/hook"
    finally:
        server.should_exit = True
        await task


async def plain_httpx(url: str, receiver: Receiver, count: int) -> float:
    """Deliveries per second with a bare pooled httpx client."""
    body = json.dumps({"type": EVENTS.objective_breached.type, "data": breach(0).model_dump(mode="json")}).encode()
    gate = asyncio.Semaphore(CONCURRENCY)
    receiver.expect(count)
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=CONCURRENCY)) as client:

        async def post() -> None:
            async with gate:
                response = await client.post(url, content=body, headers={"Content-Type": "application/json"})
                assert response.status_code == 204

        started = time.perf_counter()
        await asyncio.gather(*(post() for _ in range(count)))
        await receiver.arrived.wait()
        return count / (time.perf_counter() - started)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def burn_alert(status: CloudEvent) -> CloudEvent:
    """The page tier of the breached objective's burn rate firing, as measurement emits it after the breach."""
    data = status.data
    alert = BurnAlertV1(
        agreement_id=data["agreement_id"], objective_id=data["objective_id"], objective_row_id=data["objective_id"],
        service_key=data["service_key"], indicator=data["indicator"], tier="page-1h", severity="page", firing=True,
        long_window="1h", short_window="5m", long_burn_rate=20.0, short_burn_rate=25.0, threshold_factor=14.4,
        budget_share=0.02, objective=data["objective"], observed_at=data["observed_at"],
    )  # fmt: skip
    return EVENTS.objective_burn_alert.build(tenant=status.tenant, data=alert)


async def publish_storm(js: Any, count: int, *, burn_alerts: bool) -> None:
    """`count` events: breaches of distinct objectives, or (`burn_alerts`) each breach then its burn alert."""
    if not burn_alerts:
        await publish_events(js, breach_events("bench", count))
        return
    breaches = breach_events("bench", count // 2)
    events = [item for status in breaches for item in (status, burn_alert(status))]

    async def publish(event: CloudEvent) -> None:
        headers = {**event.headers(), "Nats-Msg-Id": event.id}
        spec = (
            EVENTS.objective_burn_alert if event.type == EVENTS.objective_burn_alert.type else EVENTS.objective_breached
        )
        await js.publish(spec.subject, json.dumps(event.data).encode(), headers=headers)

    await asyncio.gather(*(publish(event) for event in events))


async def notifier(js: Any, receiver: Receiver, count: int, pid: int, *, burn_alerts: bool) -> tuple[float, float]:
    """Deliveries per second (events published to webhooks received) and notifier CPU ms per delivery."""
    receiver.expect(count)
    cpu = cpu_seconds(pid)
    started = time.perf_counter()
    await publish_storm(js, count, burn_alerts=burn_alerts)
    try:
        await asyncio.wait_for(receiver.arrived.wait(), timeout=100)
    except TimeoutError:
        raise SystemExit(f"only {receiver.received} of {count} deliveries arrived in 100 s") from None
    elapsed = time.perf_counter() - started
    return count / elapsed, (cpu_seconds(pid) - cpu) / count * 1000


async def singles(js: Any, receiver: Receiver, url: str, database_url: str, count: int) -> None:
    """One event (and one plain POST) at a time: latency of each, and the notifier's inbox -> attempt stage."""
    body = json.dumps({"type": EVENTS.objective_breached.type, "data": breach(0).model_dump(mode="json")}).encode()
    plain, ours, ids = [], [], set()
    async with httpx.AsyncClient() as client:
        for n in range(count):
            receiver.expect(1)
            started = time.perf_counter()
            response = await client.post(url, content=body, headers={"Content-Type": "application/json"})
            assert response.status_code == 204
            plain.append((time.perf_counter() - started) * 1000)
            (event,) = breach_events("bench", 1, start=100_000 + n)
            ids.add(event.id)
            receiver.expect(1)
            started = time.perf_counter()
            await publish_events(js, [event])
            await asyncio.wait_for(receiver.arrived.wait(), timeout=30)
            ours.append((time.perf_counter() - started) * 1000)
            await asyncio.sleep(0.1)  # one at a time, as breaches come
    inbox = {e: stages.instant(at) for e, at in await stages.rows(database_url, stages.INBOX) if e in ids}
    attempts = {e: stages.instant(a) for e, _, a in await stages.rows(database_url, stages.ATTEMPTS) if e in ids}
    stage = [(attempts[e] - inbox[e]) * 1000 for e in ids if e in inbox and e in attempts]
    print(f"  one at a time, {count} events:")
    for label, values in (
        ("plain httpx POST", plain),
        ("notifier, event published -> webhook", ours),
        ("notifier inbox -> attempt started", stage),
    ):
        print(f"    {label:<42} p50 {percentile(values, 0.5):7.1f} ms   p99 {percentile(values, 0.99):7.1f} ms")
    print(f"    ratio published -> webhook / plain POST    p50 {percentile(ours, 0.5) / percentile(plain, 0.5):7.1f} x")


async def bench(database: str, args: argparse.Namespace) -> None:
    env = {"NOTIFIER_MAX_PER_SUBSCRIPTION": str(CONCURRENCY), "NOTIFIER_MAX_CONCURRENCY": str(CONCURRENCY)}
    with notifier_stack(database, **env) as stack:
        receiver = Receiver()
        async with serving(receiver) as url:
            admin = {"Authorization": f"Bearer {token('admin')}"}
            body = {
                "name": "bench",
                "event_types": ["slm.measurement.objective.*"],
                "channel": "webhook",
                "target": {"url": url},
            }
            async with httpx.AsyncClient(base_url=stack.url("notifier"), headers=admin) as client:
                response = await client.post("/v1/subscriptions", json=body)
                assert response.status_code == 201, response.text
            nc = await nats.connect(stack.nats_url, **stack.nats_options())
            js = nc.jetstream()
            pid = stack.processes["notifier"].pid
            await plain_httpx(url, receiver, 100)  # warm-up
            await notifier(js, receiver, 100, pid, burn_alerts=args.burn_alerts)
            plain, ours, cpu = [], [], []
            for _ in range(args.rounds):
                plain.append(await plain_httpx(url, receiver, args.deliveries))
                rate, per_delivery = await notifier(js, receiver, args.deliveries, pid, burn_alerts=args.burn_alerts)
                ours.append(rate)
                cpu.append(per_delivery)
            shape = "breaches each followed by its burn alert" if args.burn_alerts else "breaches"
            print(
                f"\n{database}: {args.deliveries} deliveries per round ({shape}), {args.rounds} rounds, "
                f"concurrency {CONCURRENCY}"
            )
            print(line("plain httpx", plain, "deliveries/s"))
            print(line("notifier, event in -> webhook received", ours, "deliveries/s"))
            print(line("notifier CPU per delivery", cpu, "ms", "{:.1f}"))
            print(line("ratio notifier / plain (goal >= 0.5)", ratios(ours, plain), "x", "{:.2f}"))
            if args.singles:
                await singles(js, receiver, url, stack.database_urls["notifier"], args.singles)
            await nc.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--deliveries", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--singles", type=int, default=30)
    parser.add_argument("--burn-alerts", action="store_true", help="each breach followed by its burn alert")
    args = parser.parse_args()
    for database in databases(args.database):
        await bench(database, args)


if __name__ == "__main__":
    run_on_server_loop(main())
