"""The shutdown check every service runs: busy workers, NATS up, gone or frozen, a bounded stop."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import nats
import nats.errors
import nats.js.errors
from fastapi import FastAPI

from slm_shared.contracts.registry import spec_for_type
from slm_shared.tasks import task_stacks
from slm_shared.testing.app_client import running_app
from slm_shared.testing.nats_server import NatsServer
from slm_shared.testing.proxy import FreezableProxy
from slm_shared.testing.pytest_plugin import make_token

GRACE_SECONDS = 2.0
# the workers' grace, the bus's bound (same setting) and the database's, with room for a slow machine
SHUTDOWN_BOUND_SECONDS = 2 * GRACE_SECONDS + 3.0
CONDITIONS = ("busy", "nats-gone", "nats-frozen")
TENANT = "shutdown"

MakeBusy = Callable[[httpx.AsyncClient, str], Awaitable[None]]


def settings_for(settings_class: type[Any], *, name: str, tmp_path: Path, proxy: FreezableProxy, **extra: Any) -> Any:
    """A service's settings for the shutdown check: a fresh SQLite file, NATS through `proxy`, fast polling."""
    return settings_class(
        database_url=f"sqlite+aiosqlite:///{tmp_path / (name + '.db')}",
        nats_url=proxy.url,
        environment="test",
        outbox_poll_seconds=0.05,
        shutdown_grace_seconds=GRACE_SECONDS,
        **extra,
    )


async def flood_consumer(app: FastAPI, nats_url: str) -> int:
    """Publish events of every type the service consumes; their handlers refuse the data, so they retry."""
    consumer = app.state.consumer
    if consumer is None:
        return 0
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        sent = 0
        for event_type in consumer.handlers:
            spec = spec_for_type(event_type)
            assert spec is not None
            for _ in range(20):
                event_id = str(uuid.uuid4())
                headers = {
                    "ce-specversion": "1.0",
                    "ce-id": event_id,
                    "ce-source": "test",
                    "ce-type": event_type,
                    "ce-time": datetime.now(UTC).isoformat(),
                    "ce-tenant": TENANT,
                    "Nats-Msg-Id": event_id,
                }
                await publish_retrying(js, spec.subject, b'{"unexpected": true}', headers)
                sent += 1
        return sent
    finally:
        await nc.close()


async def publish_retrying(js: Any, subject: str, body: bytes, headers: dict[str, str]) -> None:
    """Publish once the stream exists (a service provisions its streams shortly after start)."""
    for _ in range(100):
        try:
            await js.publish(subject, body, headers=headers)
            return
        except (nats.errors.NoRespondersError, nats.js.errors.NoStreamResponseError):
            await asyncio.sleep(0.1)
    raise AssertionError(f"could not publish to {subject}")


async def assert_stops_in_bound(
    app: FastAPI, *, condition: str, nats_server: NatsServer, proxy: FreezableProxy, make_busy: MakeBusy
) -> float:
    """Start `app` (its NATS through `proxy`), make it busy, apply `condition`, stop it; assert a clean stop."""
    before = asyncio.all_tasks()
    lifespan = running_app(app, token=make_token(TENANT))
    client = await lifespan.__aenter__()
    try:
        deadline = time.monotonic() + 15
        while not app.state.bus.is_connected:
            assert time.monotonic() < deadline, "the service never connected to NATS"
            await asyncio.sleep(0.02)
        await make_busy(client, nats_server.url)
        await flood_consumer(app, nats_server.url)
        await asyncio.sleep(0.3)  # let the workers pick the work up
        if condition == "nats-gone":
            nats_server.stop()
        elif condition == "nats-frozen":
            proxy.freeze()
            await asyncio.sleep(0.2)
    finally:
        started = time.monotonic()
        await lifespan.__aexit__(None, None, None)
        took = time.monotonic() - started

    await asyncio.sleep(0.05)  # let tasks that just finished leave the loop's set
    left = {task for task in asyncio.all_tasks() - before if task is not asyncio.current_task()}
    # what a slow or unclean stop still waits on; the loop's final cancellation would wait for the same
    stacks = f"\nstill running:\n{task_stacks(left)}" if left else ""
    assert took < SHUTDOWN_BOUND_SECONDS, f"took {took:.1f}s to stop with NATS {condition}{stacks}"
    assert app.state.context.tasks.abandoned == [], f"workers ignored cancellation{stacks}"
    assert not left, f"tasks left running after the stop: {sorted(t.get_name() for t in left)}{stacks}"
    return took
