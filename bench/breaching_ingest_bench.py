"""A breaching REST ingest against the same ingest that breaches nothing, in-process, in alternating rounds.

  breaching : POST /v1/measurements of 5 points (950 good of 1000 each) on a service whose one objective (99.9%
              availability, 30d rolling) is healthy and due: evaluated inline with its batch, it turns breached (its
              transition row, objective.breached and the burn-rate alerts in the outbox, all in the batch's
              transaction)
  baseline  : the same POST of 5 points (1000 good of 1000) on a service like it: evaluated inline too, the
              objective stays healthy (no transition, no event)

Each POST uses a service of its own, set up before the rounds (activated as the inbox consumer activates, one
good point stored 30 minutes ago, evaluated to healthy, then last evaluated an hour ago: due inline, as after a quiet
spell). The app is served over ASGI in this process (`slm_shared.testing.app_client`: no socket, no bus, no
workers), so a POST's time is the app's: decoding, the batch's transaction and its statements' round trips, the
evaluation, the events. Wall time and this process's CPU time per POST; on SQLite the database works in this
process, on PostgreSQL in a server of its own (its CPU is not counted). The breaching and baseline POSTs
alternate one by one; a round's figure is the median of its POSTs.

Run: .venv/bin/python bench/breaching_ingest_bench.py [--database sqlite|postgresql|both] [--rounds 7]
     [--posts 15]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from benchlib.serving import run_on_server_loop
from benchlib.stack import databases
from benchlib.stats import line, ratios, spread
from sqlalchemy import func, select, update

from slm_measurement import events as measurement_events
from slm_measurement import service
from slm_measurement.config import Settings
from slm_measurement.main import build_app
from slm_measurement.models import Objective
from slm_shared.auth import issue_token
from slm_shared.bus.models import OutboxMessage
from slm_shared.contracts.payloads_v2 import AgreementActivatedV2
from slm_shared.contracts.registry import EVENTS
from slm_shared.db import Database
from slm_shared.testing.app_client import running_app
from slm_shared.testing.postgres import PostgresServer

POINTS = 5
GOOD = {"breach": 950, "steady": 1000}  # of 1000 per point: the breaching POST's, the baseline's


def points(key: str, good: int) -> list[dict[str, object]]:
    """`POINTS` points of 1000 requests each, `good` of them good, in the minutes before this one."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    return [
        {"service": key, "indicator": "availability", "timestamp": (now - timedelta(minutes=m)).isoformat(),
         "good": good, "total": 1000}
        for m in range(1, POINTS + 1)
    ]  # fmt: skip


async def activate(db: Database, key: str) -> None:
    """A 99.9% availability SLA on `key`, applied as the inbox consumer applies its activation."""
    agreement = AgreementActivatedV2.model_validate(
        {"agreement_id": f"agreement-{key}", "version": 1, "kind": "SLA", "name": f"{key} Gold",
         "service_id": f"id-{key}", "service_key": key, "consumer_party_id": "bench-customer",
         "effective_from": datetime.now(UTC) - timedelta(days=1), "ticket_targets": [],
         "objectives": [{"objective_id": "availability", "indicator": "availability", "target": 0.999,
                         "window": {"kind": "rolling", "duration": "30d"}}]}
    )  # fmt: skip
    async with db.session() as session:
        await measurement_events.on_agreement_activated(
            session, EVENTS.agreement_activated_v2.build(tenant="bench", data=agreement)
        )


async def set_up(client: httpx.AsyncClient, db: Database, keys: list[str]) -> None:
    """Each service's objective healthy (one good point 30 minutes ago), then last evaluated an hour ago (due)."""
    at = (datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=30)).isoformat()
    for key in keys:
        await activate(db, key)
    history = [{"service": k, "indicator": "availability", "timestamp": at, "good": 1000, "total": 1000} for k in keys]
    for offset in range(0, len(history), 500):
        response = await client.post("/v1/measurements", json=history[offset : offset + 500])
        assert response.status_code == 202, response.text
    await service.evaluate_due(db, interval=timedelta(0), limit=len(keys) + 10)
    async with db.session() as session:
        statuses = dict(
            (await session.execute(select(Objective.status, func.count()).group_by(Objective.status))).all()
        )
        assert statuses == {"healthy": len(keys)}, statuses
        await session.execute(update(Objective).values(evaluated_at=datetime.now(UTC) - timedelta(hours=1)))


async def timed_post(client: httpx.AsyncClient, body: list[dict[str, object]]) -> tuple[float, float]:
    """Wall and CPU milliseconds of one POST."""
    cpu, started = time.process_time(), time.perf_counter()
    response = await client.post("/v1/measurements", json=body)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    assert response.status_code == 202, response.text
    return wall * 1000, cpu * 1000


@contextlib.asynccontextmanager
async def database_url(database: str) -> AsyncIterator[str]:
    if database == "postgresql":
        server = PostgresServer().start()
        try:
            yield server.create_database(f"breaching_ingest_{time.time_ns()}")
        finally:
            server.stop()
    else:
        with tempfile.TemporaryDirectory(prefix="slm-bench-") as folder:
            yield f"sqlite+aiosqlite:///{Path(folder) / 'measurement.db'}"


async def bench(database: str, rounds: int, posts: int) -> None:
    async with database_url(database) as url:
        settings = Settings(database_url=url, environment="test", run_workers=False, unknown_series="warn")
        app = build_app(settings)
        token = issue_token(settings.jwt_secret, tenant="bench", roles=["ingest", "admin"])
        async with running_app(app, token=token) as client:
            db: Database = app.state.db
            warm = 3
            per_kind = (rounds * posts) + warm
            keys = {kind: [f"{kind}-{n}" for n in range(per_kind)] for kind in ("breach", "steady")}
            await set_up(client, db, keys["breach"] + keys["steady"])
            wall: dict[str, list[float]] = {"breach": [], "steady": []}
            cpu: dict[str, list[float]] = {"breach": [], "steady": []}
            for n in range(warm):  # imports, caches, prepared statements
                for kind in ("breach", "steady"):
                    await timed_post(client, points(keys[kind][n], GOOD[kind]))
            for r in range(rounds):
                spent: dict[str, list[tuple[float, float]]] = {"breach": [], "steady": []}
                for n in range(warm + r * posts, warm + (r + 1) * posts):
                    first, second = ("breach", "steady") if n % 2 else ("steady", "breach")
                    for kind in (first, second):
                        spent[kind].append(await timed_post(client, points(keys[kind][n], GOOD[kind])))
                for kind, figures in spent.items():
                    wall[kind].append(statistics.median(w for w, _ in figures))
                    cpu[kind].append(statistics.median(c for _, c in figures))
            async with db.sessionmaker() as session:
                breached = await session.scalar(
                    select(func.count()).where(OutboxMessage.type == EVENTS.objective_breached.type)
                )
                statuses = dict(
                    (await session.execute(select(Objective.status, func.count()).group_by(Objective.status))).all()
                )
    assert breached == per_kind and statuses == {"breached": per_kind, "healthy": per_kind}, (breached, statuses)
    print(f"\n{database}: {rounds} rounds of {posts} breaching and {posts} baseline POSTs ({POINTS} points each),"
          f" alternating; min / median / max of the rounds' medians")  # fmt: skip
    print(line("breaching POST, wall", wall["breach"], "ms", "{:.2f}"))
    print(line("baseline POST (stays healthy), wall", wall["steady"], "ms", "{:.2f}"))
    print(line("ratio breaching / baseline, wall", ratios(wall["breach"], wall["steady"]), "x", "{:.2f}"))
    print(line("breaching POST, CPU of this process", cpu["breach"], "ms", "{:.2f}"))
    print(line("baseline POST, CPU of this process", cpu["steady"], "ms", "{:.2f}"))
    extra = [b - s for b, s in zip(wall["breach"], wall["steady"], strict=True)]
    print(f"  {'breaching - baseline, wall':<44} {spread(extra, '{:.2f}')} ms")


def load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--posts", type=int, default=15, help="breaching POSTs per round (and as many baseline)")
    args: Any = parser.parse_args()
    print(f"load average before: {load()}")
    for database in databases(args.database):
        await bench(database, args.rounds, args.posts)
    print(f"\nload average after: {load()}")


if __name__ == "__main__":
    run_on_server_loop(main())
