"""Webhook delivery throughput to a loopback receiver, against plain httpx posting in the same run.

  plain httpx : one pooled httpx.AsyncClient posting the same JSON bodies, `--concurrency` at a time
  notifier    : the DeliveryWorker draining queued deliveries from a SQLite file: claim, sign
                (Standard Webhooks), resolve and check the target, POST, record every attempt

Both talk to the same uvicorn receiver on 127.0.0.1. The ratio notifier / plain should be at least 0.5.

Run: .venv/bin/python bench/delivery_bench.py [--deliveries 3000] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import tempfile
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from slm_notifier import repository, service
from slm_notifier.config import Settings
from slm_notifier.models import new_id
from slm_notifier.schemas import SubscriptionCreate
from slm_notifier.worker import DeliveryWorker
from slm_shared import migrations
from slm_shared.db import Database
from slm_shared.testing.ports import free_port

PAYLOAD = {
    "agreement_id": "agr-1",
    "objective_id": "obj-1",
    "service_key": "payments",
    "indicator": "availability",
    "status": "breached",
    "objective": 0.999,
    "attainment": 0.995,
    "severity": "critical",
}


class Counter:
    def __init__(self) -> None:
        self.received = 0


async def receiver_app(counter: Counter, scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The smallest ASGI receiver: read the body, answer 204."""
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    counter.received += 1
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


@contextlib.asynccontextmanager
async def receiver(counter: Counter) -> AsyncIterator[str]:
    port = free_port()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receiver_app(counter, scope, receive, send)

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn offers no event to wait on
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}/hook"
    finally:
        server.should_exit = True
        await task


async def plain_httpx(url: str, count: int, concurrency: int) -> float:
    """Deliveries per second with a bare pooled httpx client."""
    body = json.dumps({"type": "slm.measurement.objective.breached.v1", "data": PAYLOAD}).encode()
    gate = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=concurrency)) as client:

        async def post() -> None:
            async with gate:
                response = await client.post(url, content=body, headers={"Content-Type": "application/json"})
                assert response.status_code == 204

        started = time.perf_counter()
        await asyncio.gather(*(post() for _ in range(count)))
        return count / (time.perf_counter() - started)


async def notifier(url: str, count: int, concurrency: int, folder: Path) -> float:
    """Deliveries per second through the DeliveryWorker, from queued rows to recorded attempts."""
    database_url = f"sqlite+aiosqlite:///{folder / 'notifier.db'}"
    await migrations.upgrade("slm_notifier", database_url)
    settings = Settings(
        database_url=database_url,
        environment="development",
        max_concurrency=concurrency,
        max_per_subscription=concurrency,
        delivery_poll_seconds=0.05,
    )
    db = Database(database_url)
    now = datetime.now(UTC)
    async with db.session() as session:
        data = SubscriptionCreate(name="bench", event_types=["slm.measurement.objective.*"], target={"url": url})
        subscription = await service.create_subscription(session, tenant="bench", data=data)
        rows = []
        for _ in range(count):
            row = service.delivery_row(_Event(new_id(), now), subscription.id, now)  # type: ignore[arg-type]
            rows.append(row)
        await repository.insert_deliveries(session, rows)
    worker = DeliveryWorker(db, settings)
    started = time.perf_counter()
    task = asyncio.create_task(worker.run())
    deadline = started + 120
    while worker.sent < count and time.perf_counter() < deadline:  # noqa: ASYNC110 - polling a counter
        await asyncio.sleep(0.01)
    if worker.sent < count:
        raise SystemExit(f"only {worker.sent} of {count} deliveries sent in 120 s")
    elapsed = time.perf_counter() - started
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await db.dispose()
    return count / elapsed


class _Event:
    """The few CloudEvent attributes a delivery row copies."""

    def __init__(self, event_id: str, when: datetime) -> None:
        self.id = event_id
        self.time = when
        self.tenant = "bench"
        self.type = "slm.measurement.objective.breached.v1"
        self.data = PAYLOAD


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--deliveries", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    counter = Counter()
    with tempfile.TemporaryDirectory() as folder:
        async with receiver(counter) as url:
            await plain_httpx(url, 200, args.concurrency)  # warm up
            plain = await plain_httpx(url, args.deliveries, args.concurrency)
            ours = await notifier(url, args.deliveries, args.concurrency, Path(folder))
    print(f"deliveries: {args.deliveries}, concurrency: {args.concurrency}, receiver: uvicorn on 127.0.0.1")
    print(f"plain httpx : {plain:8.0f} deliveries/s")
    print(f"notifier    : {ours:8.0f} deliveries/s (signed, target checked, every attempt recorded in SQLite)")
    ratio = ours / plain
    print(f"ratio       : {ratio:8.2f} (target >= 0.5) {'OK' if ratio >= 0.5 else 'BELOW TARGET'}")


if __name__ == "__main__":
    asyncio.run(main())
