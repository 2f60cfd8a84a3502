"""Ingestion throughput: the measurement bulk path against one ORM insert per point, on SQLite files.

Run: .venv/bin/python bench/ingest_bench.py [--points 100000] [--batch 10000]
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

from pydantic import AwareDatetime, BaseModel, Field
from sqlalchemy import Column, Double
from sqlmodel import Field as ColumnField
from sqlmodel import SQLModel

from slm_measurement import models  # noqa: F401  (registers the bucket tables)
from slm_measurement.ingest import check_points, decode_points, roll_up
from slm_measurement.repository import upsert_buckets
from slm_shared.db import Database


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


def make_batches(count: int, batch: int, series: int) -> list[bytes]:
    """JSON bodies as a client would send them: points over the last day on `series` series."""
    rng = random.Random(42)
    now = datetime.now(UTC)
    points = []
    for _ in range(count):
        total = rng.randint(1, 1000)
        points.append(
            {
                "service": f"service-{rng.randrange(series)}",
                "indicator": "availability",
                "timestamp": (now - timedelta(seconds=rng.randrange(86_400))).isoformat(),
                "good": total - rng.randint(0, 3),
                "total": total,
            }
        )
    for point in points:
        point["good"] = max(point["good"], 0)
    return [json.dumps(points[i : i + batch]).encode() for i in range(0, count, batch)]


async def run_bulk(url: str, bodies: list[bytes]) -> float:
    db = Database(url)
    async with db.engine.begin() as connection:
        await connection.run_sync(SQLModel.metadata.create_all)
    started = time.perf_counter()
    for body in bodies:
        points = decode_points(body, ndjson=False)
        check_points(points, now=datetime.now(UTC), max_lateness=timedelta(days=7), max_future=timedelta(minutes=5))
        async with db.session() as session:
            await upsert_buckets(session, tenant="bench", rollup=roll_up(points))
    elapsed = time.perf_counter() - started
    await db.dispose()
    return elapsed


async def run_orm(url: str, bodies: list[bytes]) -> float:
    db = Database(url)
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


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=10_000, help="points per request (one transaction)")
    parser.add_argument("--series", type=int, default=50)
    args = parser.parse_args()
    bodies = make_batches(args.points, args.batch, args.series)
    with tempfile.TemporaryDirectory(prefix="slm-bench-") as folder:
        bulk = await run_bulk(f"sqlite+aiosqlite:///{Path(folder) / 'bulk.db'}", bodies)
        orm = await run_orm(f"sqlite+aiosqlite:///{Path(folder) / 'orm.db'}", bodies)
    bulk_rate, orm_rate = args.points / bulk, args.points / orm
    print(f"points: {args.points} in batches of {args.batch}, {args.series} series over one day")
    print(f"bulk (msgspec + Core upserts into minute/hour/day buckets): {bulk_rate:>10,.0f} points/s ({bulk:.2f} s)")
    print(f"baseline (Pydantic + one ORM insert per point):             {orm_rate:>10,.0f} points/s ({orm:.2f} s)")
    print(f"ratio bulk/baseline: {bulk_rate / orm_rate:.1f}x")


if __name__ == "__main__":
    asyncio.run(main())
