"""SQLite writer turn: how long one writer waits for it while background writers keep queueing.

  ours     : the writer asks for an urgent turn (as the flagged evaluation that records a breach does)
  baseline : the same writer asks for an ordinary turn, measured in the same run, alternately

Three background writers each run short write transactions back to back on one SQLite file (as the
ingest consumer and the periodic passes do); the measured writer asks for its turn every 20 ms.
Prints p50 / p99 of its wait and the ratio against the baseline.

Run: .venv/bin/python bench/writer_turn_bench.py [--samples 200]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from benchlib.stats import percentile
from sqlalchemy import text

from slm_shared.db import Database


async def background(db: Database, stop: asyncio.Event) -> None:
    while not stop.is_set():
        async with db.session() as session:
            await session.execute(text("INSERT INTO rows (who) VALUES ('background')"))
            await asyncio.sleep(0.004)  # a short transaction's own work


async def run(samples: int) -> None:
    with tempfile.TemporaryDirectory() as directory:
        db = Database(f"sqlite+aiosqlite:///{Path(directory) / 'turns.db'}")
        try:
            async with db.session() as session:
                await session.execute(text("CREATE TABLE rows (n INTEGER PRIMARY KEY, who TEXT)"))
            stop = asyncio.Event()
            workers = [asyncio.create_task(background(db, stop)) for _ in range(3)]
            waits: dict[bool, list[float]] = {True: [], False: []}
            for n in range(2 * samples):
                urgent = n % 2 == 0
                await asyncio.sleep(0.02)
                started = time.perf_counter()
                async with db.session(urgent=urgent) as session:
                    waits[urgent].append((time.perf_counter() - started) * 1000)
                    await session.execute(text("INSERT INTO rows (who) VALUES ('measured')"))
            stop.set()
            await asyncio.gather(*workers)
        finally:
            await db.dispose()
    ours, base = sorted(waits[True]), sorted(waits[False])
    o50, o99, b50, b99 = (
        statistics.median(ours),
        percentile(ours, 0.99),
        statistics.median(base),
        percentile(base, 0.99),
    )
    print(f"\nwriter turn on SQLite, 3 background writers, {samples} samples each")
    print(f"  urgent turn (ours)      p50 {o50:7.2f} ms   p99 {o99:7.2f} ms")
    print(f"  ordinary turn (base)    p50 {b50:7.2f} ms   p99 {b99:7.2f} ms")
    print(f"  ratio ours / base       p50 {o50 / b50:7.2f} x   p99 {o99 / b99:7.2f} x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=200)
    asyncio.run(run(parser.parse_args().samples))


if __name__ == "__main__":
    main()
