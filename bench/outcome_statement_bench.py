"""One objective's outcome and its transition row written on PostgreSQL: the statement by its id against the
statement over arrays, alternating, on a table of 10,000 objectives.

  by id  : what `bulk_update.update_outcomes` sends for one objective (`_compiled_one`: its UPDATE by id in a
           data-modifying `WITH`, the transition row inserted if that UPDATE wrote it)
  arrays : the statement it sends for a chunk (`_unnest_update`: one array per column, here of one element), for
           the same one objective

Each statement writes another objective, drawn at random, in one transaction per round (committed after it); the
two forms alternate one by one and each is timed alone (its values' conversion, its round trip to a PostgreSQL
server of its own, whose CPU is not counted). A round's figure is the median of its statements. With `--explain`,
each form's `EXPLAIN (ANALYZE)` after the rounds, in a transaction rolled back.

Run: .venv/bin/python bench/outcome_statement_bench.py [--rounds 7] [--statements 200] [--objectives 10000]
     [--explain]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from benchlib.postgres import exit_without_postgres
from benchlib.serving import run_on_server_loop
from benchlib.stats import line, ratios
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from slm_measurement.bulk_update import (
    _MOVED_BOUND,
    MOVED,
    _columns,
    _compiled_insert,
    _compiled_one,
    _compiled_update,
    _complete,
    _unnest_update,
)
from slm_measurement.models import Objective, ObjectiveTransition, new_id
from slm_shared.testing.databases import migrated_database
from slm_shared.testing.postgres import PostgresServer

Form = Callable[[AsyncConnection, dict[str, Any], dict[str, Any]], Awaitable[None]]


def outcome(row_id: str, now: datetime) -> tuple[dict[str, Any], dict[str, Any]]:
    """A breaching outcome of the objective `row_id` and its transition row."""
    row = {
        "row_id": row_id,
        "good": 950.0,
        "total": 1000.0,
        "attainment": 0.95,
        "window_start": now - timedelta(days=30),
        "window_end": now,
        "status": "breached",
        "last_event": "breached",
        "details": {"budget_target": 0.999},
        "firing_alerts": ["page"],
        "needs_evaluation": False,
        "evaluated_at": now,
    }
    moved = {"id": new_id(), "tenant": "bench", "objective_row_id": row_id, "at": now, "from_status": "healthy"}
    return row, {**moved, "to_status": "breached", "event": "breached", "attainment": 0.95, "expected_attainment": None}


def statement(form: str, connection: AsyncConnection, row: dict[str, Any], moved: dict[str, Any]) -> tuple[str, Any]:
    """The statement `form` sends for `row` and `moved`, and its parameters (as `update_outcomes` builds them)."""
    dialect = connection.dialect
    [moved] = _complete([moved])
    if form == "by id":
        compiled = _compiled_one(dialect)
        _, bound = _columns(compiled, [{**row, **{_MOVED_BOUND[name]: moved[name] for name in MOVED}}])
        return compiled.string, tuple(value for [value] in bound)
    names, columns = _columns(_compiled_update(dialect), [row])
    inserted, values = _columns(_compiled_insert(dialect), [moved])
    return _unnest_update(dialect, tuple(names), tuple(inserted)), (*columns, *values)


def load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--statements", type=int, default=200, help="of each form per round")
    parser.add_argument("--objectives", type=int, default=10_000)
    parser.add_argument("--explain", action="store_true")
    args: Any = parser.parse_args()
    exit_without_postgres("outcome_statement_bench")
    print(f"load average before: {load()}")
    forms = ("by id", "arrays")
    server = PostgresServer().start()
    try:
        url = server.create_database(f"outcome_statement_{time.time_ns()}")
        async with migrated_database("slm_measurement", url) as db:
            async with db.session() as session:
                session.add_all(
                    Objective(
                        tenant="bench",
                        agreement_id=f"agreement-{n}",
                        agreement_version=1,
                        agreement_kind="SLA",
                        objective_id="o",
                        service_key=f"service-{n}",
                        indicator="availability",
                        target=0.999,
                        window_kind="rolling",
                        window_duration="30d",
                    )
                    for n in range(args.objectives)
                )
            async with db.session() as session:
                ids = list((await session.scalars(select(Objective.id))).all())
            async with db.engine.connect() as connection:
                await connection.exec_driver_sql("ANALYZE objectives")
                await connection.commit()
            spent: dict[str, list[float]] = {form: [] for form in forms}
            draw = random.Random(15)
            for r in range(args.rounds + 1):  # the first round warms up (prepared statements, caches)
                figures: dict[str, list[float]] = {form: [] for form in forms}
                async with db.engine.connect() as connection:
                    for n in range(args.statements):
                        for form in forms if n % 2 else reversed(forms):
                            row, moved = outcome(draw.choice(ids), datetime.now(UTC))
                            started = time.perf_counter()
                            await connection.exec_driver_sql(*statement(form, connection, row, moved))
                            figures[form].append((time.perf_counter() - started) * 1000)
                    await connection.commit()
                if r:
                    for form in forms:
                        spent[form].append(statistics.median(figures[form]))
            async with db.sessionmaker() as session:
                transitions = await session.scalar(select(func.count()).select_from(ObjectiveTransition))
            assert transitions == (args.rounds + 1) * args.statements * 2, transitions
            if args.explain:
                async with db.engine.connect() as connection:
                    for form in forms:
                        sql, parameters = statement(form, connection, *outcome(draw.choice(ids), datetime.now(UTC)))
                        plan = await connection.exec_driver_sql(f"EXPLAIN (ANALYZE, COSTS OFF) {sql}", parameters)
                        print(f"\n{form}:\n" + "\n".join(f"  {text}" for [text] in plan))
                    await connection.rollback()
    finally:
        server.stop()
    print(
        f"\nPostgreSQL, {args.objectives} objectives: {args.rounds} rounds of {args.statements} statements of each"
        " form, alternating; min / median / max of the rounds' medians"
    )
    for form in forms:
        print(line(f"{form}, wall", spent[form], "ms", "{:.3f}"))
    print(line("ratio by id / arrays, wall", ratios(spent["by id"], spent["arrays"]), "x", "{:.2f}"))
    print(f"\nload average after: {load()}")


if __name__ == "__main__":
    run_on_server_loop(main())
