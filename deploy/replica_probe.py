"""What one replica sustains on PostgreSQL, and what a second adds, with real processes.

Starts a throwaway PostgreSQL and NATS (as the tests do), then for 1 and 2 measurement
processes on one database posts columnar ingest batches over loopback HTTP from concurrent
clients, and for 1 and 2 notifier processes delivers breach notifications to a loopback
webhook receiver. Prints points/s, deliveries/s and the CPU seconds each process used.

Run: .venv/bin/python -m deploy.replica_probe [--seconds 20] [--batch 5000] [--deliveries 600]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from itertools import cycle
from pathlib import Path

import httpx
import nats

from slm_shared.auth import issue_token
from slm_shared.settings import DEVELOPMENT_JWT_SECRET
from slm_shared.testing.breaches import breach_events, publish_events
from slm_shared.testing.postgres import PostgresServer
from tools.devstack import Stack
from tools.receiver import WebhookReceiver
from tools.scenario import Scenario

TENANT = "probe"
TOKEN = issue_token(DEVELOPMENT_JWT_SECRET, tenant=TENANT, roles=["admin"], subject="probe")
ENV = {"SLM_ENVIRONMENT": "test", "SLM_LOG_LEVEL": "WARNING", "MEASUREMENT_EVALUATION_INTERVAL_SECONDS": "3600"}


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100


def postgres_cpu_seconds(pg: PostgresServer) -> float:
    """CPU time of the throwaway PostgreSQL: the postmaster and its backends."""
    postmaster = int((pg.data / "postmaster.pid").read_text().split()[0])
    total = 0.0
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit():
                fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
                if int(proc.name) == postmaster or int(fields[1]) == postmaster:
                    total += (int(fields[11]) + int(fields[12])) / 100
        except OSError:
            continue
    return total


def ingest_body(batch: int, offset: int, client: int, series: int = 100) -> bytes:
    now = datetime.now(UTC).timestamp()
    per = batch // series
    entries = [
        {
            "service": f"svc-{client}-{s}",
            "indicator": "availability",
            "timestamps": [now - 60 * ((offset + i) % 600) for i in range(per)],
            "good": [99.0] * per,
            "total": [100.0] * per,
        }
        for s in range(series)
    ]
    return json.dumps({"series": entries}).encode()


def start(stack: Stack, service: str, replicas: int) -> list[str]:
    stack.start_nats()
    stack.start_service(service)
    for _ in range(replicas - 1):
        stack.start_replica(service)
    return stack.replicas_of(service)


def probe_ingest(pg: PostgresServer, folder: Path, replicas: int, seconds: float, batch: int) -> None:
    url = pg.create_database(f"probe_ingest_{replicas}_{uuid.uuid4().hex[:6]}")
    stack = Stack.on_free_ports(folder / f"ingest{replicas}", extra_env=ENV, database_urls={"measurement": url})
    try:
        processes = start(stack, "measurement", replicas)
        clients = 4 * replicas
        # Each client sends its own series, as separate sources do; batches overlap only in time.
        bodies = [[ingest_body(batch, i, c) for i in range(4)] for c in range(clients)]
        targets = cycle(processes)
        before = {p: cpu_seconds(stack.processes[p].pid) for p in processes}
        database_before, probe_before = postgres_cpu_seconds(pg), time.process_time()
        deadline = time.monotonic() + seconds

        def client(number: int) -> int:
            target, mine, sent = next(targets), bodies[number], 0
            with httpx.Client(timeout=60, headers={"Authorization": f"Bearer {TOKEN}"}) as http:
                while time.monotonic() < deadline:
                    response = http.post(
                        f"{stack.url(target)}/v1/measurements", content=mine[sent // batch % len(mine)]
                    )
                    response.raise_for_status()
                    sent += batch
            return sent

        started = time.monotonic()
        with ThreadPoolExecutor(clients) as pool:
            points = sum(pool.map(client, range(clients)))
        elapsed = time.monotonic() - started
        used = {p: cpu_seconds(stack.processes[p].pid) - before[p] for p in processes}
        share = ", ".join(f"{p} {used[p] / elapsed:.0%} of a core" for p in processes)
        share += f", PostgreSQL {(postgres_cpu_seconds(pg) - database_before) / elapsed:.0%}"
        share += f", the HTTP clients {(time.process_time() - probe_before) / elapsed:.0%}"
        print(f"measurement x{replicas}: {points / elapsed:>9,.0f} points/s ({batch:,}-point batches); {share}")
    finally:
        stack.stop()


async def publish_breaches(nats_url: str, count: int) -> None:
    client = await nats.connect(nats_url)
    js = client.jetstream(timeout=30)
    for offset in range(0, count, 200):
        await publish_events(js, breach_events(TENANT, min(200, count - offset), start=offset))
    await client.close()


def probe_notifier(pg: PostgresServer, folder: Path, replicas: int, deliveries: int) -> None:
    url = pg.create_database(f"probe_notify_{replicas}_{uuid.uuid4().hex[:6]}")
    stack = Stack.on_free_ports(folder / f"notify{replicas}", extra_env=ENV, database_urls={"notifier": url})
    receiver = WebhookReceiver().start()
    try:
        processes = start(stack, "notifier", replicas)
        Scenario({"notifier": stack.url("notifier")}, tenant=TENANT).subscribe(receiver.url)
        before = {p: cpu_seconds(stack.processes[p].pid) for p in processes}
        started = time.monotonic()
        asyncio.run(publish_breaches(stack.nats_url, deliveries))
        arrived = len(receiver.wait_for(deliveries, timeout=300))
        elapsed = time.monotonic() - started
        used = {p: cpu_seconds(stack.processes[p].pid) - before[p] for p in processes}
        share = ", ".join(f"{p} {used[p] / elapsed:.0%} of a core" for p in processes)
        print(f"notifier x{replicas}:    {arrived / elapsed:>9,.0f} deliveries/s ({arrived} of {deliveries}); {share}")
    finally:
        receiver.stop()
        stack.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--deliveries", type=int, default=600)
    parser.add_argument("--only", choices=["measurement", "notifier"])
    args = parser.parse_args()
    pg = PostgresServer().start()
    try:
        with tempfile.TemporaryDirectory(prefix="slm-probe-") as name:
            for replicas in (1, 2):
                if args.only != "notifier":
                    probe_ingest(pg, Path(name), replicas, args.seconds, args.batch)
                if args.only != "measurement":
                    try:
                        probe_notifier(pg, Path(name), replicas, args.deliveries)
                    except Exception as exc:  # noqa: BLE001 - report and go on with the other probe
                        print(f"notifier x{replicas}: failed: {exc}")
    finally:
        pg.stop()


if __name__ == "__main__":
    main()
