"""Ingestion throughput into SQLite files, with every baseline measured in the same run.

  REST columnar : POST /v1/measurements over loopback HTTP (uvicorn), arrays per series
  REST rows     : the same endpoint with a JSON array of point objects
  bulk, no HTTP : the same decode + in-memory pre-aggregation + Core upserts, called directly
  ORM reference : Pydantic per point + one ORM insert per point, on --baseline-points; for reference
                  only, not a baseline (no plain app stores one model and ORM object per point)

Run: .venv/bin/python bench/ingest_bench.py [--points 1000000] [--batch 20000] [--series 200]

  --hot [--postgres]: instead, single-point batches from 40 concurrent clients on one series with 5
  objectives and ~1400 minutes of history, with the flagged worker's loop running in the server's
  process: MEASUREMENT_INGEST_EVALUATION_LIMIT=0 (the baseline: the worker evaluates) vs the default
  (inline, at most once per objective per MEASUREMENT_INGEST_EVALUATION_INTERVAL_SECONDS) vs an
  interval of 0 (every batch evaluates inline), in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from benchlib.postgres import exit_without_postgres
from benchlib.serving import in_process_server, run_on_server_loop
from pydantic import AwareDatetime, BaseModel, Field
from sqlalchemy import Column, Double
from sqlmodel import Field as ColumnField
from sqlmodel import SQLModel

from slm_measurement import events as measurement_events
from slm_measurement import (
    flagged_pass,
    models,  # noqa: F401  (registers the bucket tables)
)
from slm_measurement.buckets import upsert_rollup
from slm_measurement.config import Settings
from slm_measurement.ingest import decode_batch
from slm_measurement.main import build_app
from slm_measurement.rollup import roll_up
from slm_shared.auth import issue_token
from slm_shared.contracts.payloads_v2 import AgreementActivatedV2
from slm_shared.contracts.registry import EVENTS
from slm_shared.db import Database
from slm_shared.testing.ports import free_port


class PointRow(SQLModel, table=True):
    """Baseline storage: one row, one ORM object, per point."""

    __tablename__ = "bench_points"

    id: int | None = ColumnField(default=None, primary_key=True)
    tenant: str
    service: str
    indicator: str
    scope: str
    timestamp: datetime
    good: float = ColumnField(sa_column=Column(Double, nullable=False))
    total: float = ColumnField(sa_column=Column(Double, nullable=False))


class PointModel(BaseModel):
    """Baseline decoding: one Pydantic model per point."""

    service: str = Field(min_length=1, max_length=64)
    indicator: str = Field(min_length=1, max_length=128)
    scope: str = ""
    timestamp: AwareDatetime
    good: float = Field(ge=0)
    total: float = Field(ge=0)


def make_points(count: int, series: int) -> list[tuple[int, float, int, int]]:
    """(series, unix seconds, good, total): `series` services reporting over the last hour, in time order.

    Time order is how a stream of measurements arrives; each batch then covers about a minute or two.
    """
    rng = random.Random(42)
    now = time.time()
    points = []
    for _ in range(count):
        total = rng.randint(1, 1000)
        points.append((rng.randrange(series), now - rng.random() * 3600, max(total - rng.randint(0, 3), 0), total))
    points.sort(key=lambda p: p[1])
    return points


def columnar_bodies(points: list[tuple[int, float, int, int]], batch: int) -> list[bytes]:
    bodies = []
    for offset in range(0, len(points), batch):
        per_series: dict[int, dict[str, list[float]]] = {}
        for series, stamp, good, total in points[offset : offset + batch]:
            columns = per_series.setdefault(series, {"timestamps": [], "good": [], "total": []})
            columns["timestamps"].append(stamp)
            columns["good"].append(good)
            columns["total"].append(total)
        entries = [{"service": f"service-{s}", "indicator": "availability", **c} for s, c in per_series.items()]
        bodies.append(json.dumps({"series": entries}).encode())
    return bodies


def row_bodies(points: list[tuple[int, float, int, int]], batch: int) -> list[bytes]:
    rows = [
        {
            "service": f"service-{s}",
            "indicator": "availability",
            "timestamp": datetime.fromtimestamp(t, UTC).isoformat(),
            "good": g,
            "total": n,
        }
        for s, t, g, n in points
    ]
    return [json.dumps(rows[i : i + batch]).encode() for i in range(0, len(rows), batch)]


async def run_rest(folder: Path, name: str, bodies: list[bytes]) -> float:
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{folder / name}.db",
        environment="test",
        run_workers=False,
        unknown_series="warn",
    )
    port = free_port()
    server = in_process_server(build_app(settings), port)
    serving = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn exposes a flag, not an event
        await asyncio.sleep(0.05)
    token = issue_token(settings.jwt_secret, tenant="bench", roles=["ingest"])
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=300) as client:
            started = time.perf_counter()
            for body in bodies:
                response = await client.post("/v1/measurements", content=body)
                assert response.status_code == 202, response.text
            return time.perf_counter() - started
    finally:
        server.should_exit = True
        await serving


async def run_bulk(folder: Path, bodies: list[bytes]) -> float:
    db = Database(f"sqlite+aiosqlite:///{folder / 'bulk.db'}")
    async with db.engine.begin() as connection:
        await connection.run_sync(SQLModel.metadata.create_all)
    started = time.perf_counter()
    for body in bodies:
        rollup = roll_up(
            decode_batch(body, ndjson=False),
            now=datetime.now(UTC),
            max_lateness=timedelta(days=7),
            max_future=timedelta(minutes=5),
        )
        async with db.session() as session:
            await upsert_rollup(session, tenant="bench", rollup=rollup)
    elapsed = time.perf_counter() - started
    await db.dispose()
    return elapsed


async def run_orm(folder: Path, bodies: list[bytes]) -> float:
    db = Database(f"sqlite+aiosqlite:///{folder / 'orm.db'}")
    async with db.engine.begin() as connection:
        await connection.run_sync(SQLModel.metadata.create_all)
    started = time.perf_counter()
    for body in bodies:
        points = [PointModel.model_validate(item) for item in json.loads(body)]
        async with db.session() as session:
            for point in points:
                session.add(PointRow(tenant="bench", **point.model_dump()))
    elapsed = time.perf_counter() - started
    await db.dispose()
    return elapsed


async def run_hot(url: str, *, limit: int, interval: float, batches: int, clients: int = 40) -> float:
    """Batches per second into one series with 5 objectives, each batch one point of its own minute."""
    settings = Settings(
        database_url=url,
        environment="test",
        run_workers=False,
        unknown_series="warn",
        ingest_evaluation_limit=limit,
        ingest_evaluation_interval_seconds=interval,
    )
    app = build_app(settings)
    port = free_port()
    server = in_process_server(app, port)
    serving = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn exposes a flag, not an event
        await asyncio.sleep(0.05)
    db: Database = app.state.db
    since = datetime.now(UTC) - timedelta(days=1)
    for n in range(5):
        agreement = AgreementActivatedV2.model_validate(
            {"agreement_id": f"hot-{n}", "version": 1, "kind": "SLA", "name": f"hot {n}", "service_id": "id-hot",
             "service_key": "hot", "consumer_party_id": None, "effective_from": since, "ticket_targets": [],
             "objectives": [{"objective_id": "o", "indicator": "availability", "target": 0.99 + n / 1000,
                             "window": {"kind": "rolling", "duration": "30d"}}]}
        )  # fmt: skip
        async with db.session() as session:
            await measurement_events.on_agreement_activated(
                session, EVENTS.agreement_activated_v2.build(tenant="bench", data=agreement)
            )
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    minutes = [(now - timedelta(minutes=m)).isoformat() for m in range(1, 1401)]
    point = {"service": "hot", "indicator": "availability", "good": 999, "total": 1000}
    token = issue_token(settings.jwt_secret, tenant="bench", roles=["ingest"])
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    draining = True

    async def worker() -> None:  # the flagged worker's loop, as it runs in the service process
        while draining:
            if not await flagged_pass.evaluate_flagged(db, limit=100):
                await asyncio.sleep(0.1)

    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=300) as client:
            history = [{**point, "timestamp": at} for at in minutes]
            assert (await client.post("/v1/measurements", json=history)).status_code == 202
            await flagged_pass.evaluate_flagged(db, limit=100)
            evaluating = asyncio.create_task(worker())
            queue = list(range(batches))

            async def post() -> None:
                while queue:
                    at = minutes[queue.pop() % len(minutes)]
                    response = await client.post("/v1/measurements", json=[{**point, "timestamp": at}])
                    assert response.status_code == 202, response.text

            started = time.perf_counter()
            await asyncio.gather(*(post() for _ in range(clients)))
            elapsed = time.perf_counter() - started
            draining = False
            await evaluating
            return batches / elapsed
    finally:
        server.should_exit = True
        await serving


async def hot(postgres: bool, batches: int) -> None:
    rates: dict[str, float] = {}
    configurations = {"limit 0 (worker only)": (0, 1.0), "default (limit 20, 1 s)": (20, 1.0), "interval 0": (20, 0.0)}
    if postgres:
        from slm_shared.testing.postgres import PostgresServer

        pg = PostgresServer().start()
        try:
            for n, (name, (limit, interval)) in enumerate(configurations.items()):
                url = pg.create_database(f"hot_bench_{n}_{time.time_ns()}")
                rates[name] = await run_hot(url, limit=limit, interval=interval, batches=batches)
        finally:
            pg.stop()
    else:
        with tempfile.TemporaryDirectory(prefix="slm-bench-") as name:
            for n, (label, (limit, interval)) in enumerate(configurations.items()):
                url = f"sqlite+aiosqlite:///{Path(name) / f'hot{n}.db'}"
                rates[label] = await run_hot(url, limit=limit, interval=interval, batches=batches)
    base = rates["limit 0 (worker only)"]
    database = "PostgreSQL" if postgres else "SQLite"
    print(f"{batches} single-point batches, 40 clients, one series, 5 objectives, {database}")
    for label, rate in rates.items():
        print(f"{label:<26} {rate:>8,.1f} batches/s  {rate / base:.2f}x limit 0")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=20_000, help="points per request (one transaction)")
    parser.add_argument("--series", type=int, default=200)
    parser.add_argument("--baseline-points", type=int, default=20_000)
    parser.add_argument("--hot", action="store_true", help="hot series with objectives (see above)")
    parser.add_argument("--postgres", action="store_true", help="with --hot: on a PostgreSQL started here")
    parser.add_argument("--hot-batches", type=int, default=400)
    args = parser.parse_args()
    if args.hot:
        if args.postgres:
            exit_without_postgres("ingest_bench --hot --postgres")
        await hot(args.postgres, args.hot_batches)
        return
    points = make_points(args.points, args.series)
    columnar, rows = columnar_bodies(points, args.batch), row_bodies(points, args.batch)
    baseline = row_bodies(points[: args.baseline_points], min(args.batch, 10_000))
    with tempfile.TemporaryDirectory(prefix="slm-bench-") as name:
        folder = Path(name)
        rest_columnar = await run_rest(folder, "rest-columnar", columnar)
        rest_rows = await run_rest(folder, "rest-rows", rows)
        bulk = await run_bulk(folder, columnar)
        orm = await run_orm(folder, baseline)
    rate = {
        "rest_columnar": args.points / rest_columnar,
        "rest_rows": args.points / rest_rows,
        "bulk": args.points / bulk,
        "orm": args.baseline_points / orm,
    }
    shape = f"{args.series} series over the last hour (time order)"
    print(f"{args.points:,} points in batches of {args.batch:,}, {shape}, SQLite")
    print(f"REST columnar (HTTP, msgspec, pre-aggregated Core upserts): {rate['rest_columnar']:>10,.0f} points/s")
    print(f"REST rows (HTTP, JSON array of point objects):              {rate['rest_rows']:>10,.0f} points/s")
    print(f"(b) bulk upsert without HTTP (columnar):                    {rate['bulk']:>10,.0f} points/s")
    print(
        f"(a) Pydantic + one ORM insert per point ({args.baseline_points:,} points):   {rate['orm']:>10,.0f} points/s"
    )
    print(f"REST columnar vs (b): {rate['rest_columnar'] / rate['bulk']:.2f}x  (the cost of HTTP)")
    print(f"REST rows vs (b):     {rate['rest_rows'] / rate['bulk']:.2f}x")
    print("(a) is for reference only: no plain app decodes and stores one model and one ORM object per point")


if __name__ == "__main__":
    run_on_server_loop(main())
