"""Evaluation cost: a full pass over many objectives, and how it changes with the window length.

Objectives read their windows (and burn-rate and forecast lookbacks) from day, hour and minute
rollups, so a 90-day window should cost about what a 7-day window costs. The data: every series
has 90 days of day buckets, two days of hour buckets and two hours of minute buckets (what a
window reads at its ragged edges), in a SQLite file.

Run: .venv/bin/python bench/evaluation_bench.py [--objectives 10000] [--series 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import insert, update
from sqlmodel import SQLModel

from slm_measurement.models import DayBucket, HourBucket, MinuteBucket, Objective
from slm_measurement.service import evaluate_due
from slm_shared.db import Database, utcnow


async def seed(db: Database, *, objectives: int, series: int) -> None:
    async with db.engine.begin() as connection:
        await connection.run_sync(SQLModel.metadata.create_all)
    now = int(utcnow().timestamp())
    day, hour, minute = now // 86400, now // 3600, now // 60
    names = [f"service-{n}" for n in range(series)]

    def rows(index_name: str, last: int, count: int, good: float, total: float) -> list[dict[str, object]]:
        return [
            {
                "tenant": "bench",
                "service": s,
                "indicator": "availability",
                "scope": "",
                index_name: i,
                "good": good,
                "total": total,
            }
            for s in names
            for i in range(last - count, last + 1)
        ]

    async with db.session() as session:
        await session.execute(insert(DayBucket), rows("day", day, 91, 995_000, 1_000_000))
        await session.execute(insert(HourBucket), rows("hour", hour, 48, 41_500, 41_700))
        await session.execute(insert(MinuteBucket), rows("minute", minute, 120, 695, 700))
        await session.execute(
            insert(Objective),
            [
                {
                    "id": f"objective-{n}",
                    "tenant": "bench",
                    "agreement_id": f"agreement-{n}",
                    "agreement_version": 1,
                    "agreement_kind": "SLA",
                    "objective_id": "availability",
                    "service_key": names[n % series],
                    "indicator": "availability",
                    "objective": 0.99,
                    "window_kind": "rolling",
                    "window_duration": "30d",
                    "maintenance_windows": [],
                    "details": {},
                    "firing_alerts": [],
                    "created_at": utcnow(),
                    "updated_at": utcnow(),
                }
                for n in range(objectives)
            ],
        )


async def full_pass(db: Database, window: str, objectives: int) -> float:
    async with db.session() as session:
        await session.execute(update(Objective).values(window_duration=window, needs_evaluation=True))
    started = time.perf_counter()
    evaluated = await evaluate_due(db, interval=timedelta(seconds=0), limit=objectives)
    elapsed = time.perf_counter() - started
    assert evaluated == objectives, evaluated
    return elapsed


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--objectives", type=int, default=10_000)
    parser.add_argument("--series", type=int, default=1_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="slm-eval-bench-") as folder:
        db = Database(f"sqlite+aiosqlite:///{Path(folder) / 'evaluation.db'}")
        await seed(db, objectives=args.objectives, series=args.series)
        seconds = {window: await full_pass(db, window, args.objectives) for window in ("30d", "7d", "90d")}
        await db.dispose()
    print(f"{args.objectives:,} objectives on {args.series:,} series, SQLite; each evaluation reads the window,")
    print("five burn-rate lookbacks (5m, 30m, 1h, 6h, 3d) and two forecast lookbacks (1h, 24h) from rollups")
    for window, elapsed in seconds.items():
        per_objective = elapsed / args.objectives * 1000
        print(f"full pass, {window:>3} windows: {elapsed:6.2f} s  ({per_objective:.2f} ms per objective)")
    print(f"ratio 90-day / 7-day window cost: {seconds['90d'] / seconds['7d']:.2f}")


if __name__ == "__main__":
    asyncio.run(main())
