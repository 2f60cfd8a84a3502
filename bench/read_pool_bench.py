"""One statement through the read pool (`Reader.first`) against bare asyncpg, on the same PostgreSQL server, same run.

  ours       : measurement's objective lookup (`lookups.objective_row`, the statement `GET /v1/objectives/{id}`
               reads) through `Database(...).reader`: the path of every one-statement hot read on PostgreSQL
  bare       : the same SQL text and arguments on an asyncpg connection with the same JSON codecs (one per
               coroutine), prepared once (`PreparedStatement.fetchrow`): asyncpg's own work and the server's
  bare pool  : the same on an `asyncpg.create_pool` pool (acquire, `fetchrow`, release; no reset query, as the read
               pool): what asyncpg's pool adds

The server is a throwaway cluster on loopback (`slm_shared.testing.postgres`) holding 200 objective rows as
bench/read_bench.py seeds them. Each round runs every variant (in a rotating order) for --statements statements
from --concurrency coroutines at once; it prints, per statement, this process's CPU time (what the read pool
costs the service: the server's own time is not in it) and the wall time, min / median / max over the rounds,
and the ratios ours / bare of both.

A/B against another checkout: run it with that checkout's `shared` first on the path, e.g.
  PYTHONPATH=/tmp/main-shared .venv/bin/python bench/read_pool_bench.py
(it prints which `slm_shared.reads` it ran).

Run: .venv/bin/python bench/read_pool_bench.py [--statements 3000] [--rounds 5] [--concurrency 1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg
import uvloop
from benchlib.objectives import OBJECTIVE, objective_rows
from benchlib.postgres import exit_without_postgres
from sqlalchemy import insert
from sqlalchemy.engine import make_url

from slm_measurement import lookups
from slm_measurement.models import Objective
from slm_shared import reads
from slm_shared.db import Database
from slm_shared.read_statements import CompiledRead, decode_json
from slm_shared.testing.postgres import PostgresServer

VALUES = {"tenant": "bench", "objective_id": OBJECTIVE}


async def seed(db: Database) -> None:
    now = datetime.now(UTC)
    async with db.engine.begin() as connection:
        await connection.run_sync(lambda sync: Objective.__table__.create(sync))  # type: ignore[attr-defined]
        await connection.execute(
            insert(Objective.__table__),  # type: ignore[attr-defined]
            objective_rows(now),
        )
        await connection.exec_driver_sql("ANALYZE objectives")


async def json_codecs(connection: asyncpg.Connection) -> None:
    for name in ("json", "jsonb"):
        await connection.set_type_codec(name, encoder=json.dumps, decoder=decode_json, schema="pg_catalog")


async def no_reset(_connection: asyncpg.Connection) -> None:  # as the read pool's: nothing to reset
    return None


async def timed(statements: int, concurrency: int, one: Callable[[int], Awaitable[Any]]) -> tuple[float, float]:
    """CPU and wall time per statement, in microseconds; `one(n)` runs one statement for the n-th coroutine."""
    each = statements // concurrency

    async def loop(n: int) -> None:
        for _ in range(each):
            await one(n)

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(loop(n) for n in range(concurrency)))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    done = each * concurrency
    return cpu / done * 1e6, wall / done * 1e6


def spread(values: list[float]) -> str:
    return f"{min(values):7.1f} / {statistics.median(values):7.1f} / {max(values):7.1f}"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--statements", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=1)
    args = parser.parse_args()
    exit_without_postgres("read_pool_bench")
    print(f"slm_shared.reads: {reads.__file__}")
    print(f"load average before: {os.getloadavg()}")

    server = PostgresServer().start()
    try:
        url = server.create_database("bench")
        db = Database(url)
        await seed(db)
        compiled = CompiledRead(lookups._OBJECTIVE_LOOKUP, db.engine.dialect)
        arguments = compiled.arguments(VALUES)
        parsed = make_url(url)
        connect = {"host": parsed.host, "port": parsed.port, "user": parsed.username, "database": parsed.database}

        bare = [await asyncpg.connect(**connect) for _ in range(args.concurrency)]  # one per coroutine
        prepared = []
        for connection in bare:
            await json_codecs(connection)
            prepared.append(await connection.prepare(compiled.sql))
        compiled.type_columns(attribute.type.oid for attribute in prepared[0].get_attributes())
        bare_pool = await asyncpg.create_pool(min_size=0, max_size=10, init=json_codecs, reset=no_reset, **connect)
        assert bare_pool is not None

        async def ours(_n: int) -> Any:
            return await lookups.objective_row(db.reader, tenant="bench", objective_id=OBJECTIVE)

        async def bare_one(n: int) -> Any:
            return await prepared[n].fetchrow(*arguments)

        async def bare_pool_one(_n: int) -> Any:
            async with bare_pool.acquire() as connection:
                return await connection.fetchrow(compiled.sql, *arguments)

        variants: dict[str, Callable[[int], Awaitable[Any]]] = {
            "ours": ours,
            "bare": bare_one,
            "bare pool": bare_pool_one,
        }
        found = await ours(0)
        assert found is not None and found.objective_id == OBJECTIVE
        assert tuple(found) == tuple(compiled.rows([await bare_one(0)])[0])  # the same row, typed the same
        for one in variants.values():  # warm: connections open, statements prepared
            await timed(200, args.concurrency, one)

        cpu: dict[str, list[float]] = {name: [] for name in variants}
        wall: dict[str, list[float]] = {name: [] for name in variants}
        names = list(variants)
        for round_number in range(args.rounds):
            order = names[round_number % len(names) :] + names[: round_number % len(names)]
            for name in order:
                spent, took = await timed(args.statements, args.concurrency, variants[name])
                cpu[name].append(spent)
                wall[name].append(took)
            ratio = cpu["ours"][-1] / cpu["bare"][-1]
            print(
                f"round {round_number + 1}: "
                + ", ".join(f"{n} {cpu[n][-1]:.1f}" for n in names)
                + f" us CPU; ours/bare {ratio:.2f}"
            )

        print(f"\n{args.statements} statements per variant and round, {args.concurrency} at once, {args.rounds} rounds")
        print("per statement, min / median / max:   CPU us (this process)      wall us")
        for name in names:
            print(f"  {name:10s}                     {spread(cpu[name])}   {spread(wall[name])}")
        for name in ("ours", "bare pool"):
            cpu_ratios = [a / b for a, b in zip(cpu[name], cpu["bare"], strict=True)]
            wall_ratios = [a / b for a, b in zip(wall[name], wall["bare"], strict=True)]
            print(f"  {name} / bare (round by round)   CPU {spread(cpu_ratios)}   wall {spread(wall_ratios)}")
        print(f"load average after: {os.getloadavg()}")

        for connection in bare:
            await connection.close()
        await bare_pool.close()
        await db.dispose()
    finally:
        server.stop()


if __name__ == "__main__":
    uvloop.run(main())  # the event loop the services serve with (`slm_shared.cli.SERVER_LOOP`)
