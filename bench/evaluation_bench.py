"""One evaluation pass over many objectives, against computing the same tallies in one SQL pass.

  ours     : evaluate_due over every objective (30-day rolling windows): the window, five burn-rate
             lookbacks (5m, 30m, 1h, 6h, 3d) and two forecast lookbacks (1h, 24h) from day, hour and
             minute rollups; status, budget, burn rates, alerts and forecasts written per objective
  baseline : one SQL statement reading the same eight tallies per objective (day buckets for the
             window, hour and minute buckets for the lookbacks), then one bulk UPDATE of status,
             attainment, good and total

The data: every series has 90 days of day buckets, two days of hour buckets and two hours of
minute buckets (PostgreSQL is analysed after seeding, as autovacuum would). Every objective has its own
agreement with its version's terms stored, as an activation leaves them, which the pass reads. By default
every agreement has been in force for 120 days, so it counts every range an evaluation reads whole: the
pass takes the plan its terms share (`planning.plan(share_whole=True)`), nothing clipped. `--recent-share
0.2` starts that share of the agreements 10 days ago, seconds into a minute, inside every window: those
objectives keep plans of their own, each range clipped to the time counted (the baseline counts their
whole window, less work than what the pass must do). The mix measured is printed. Rounds are interleaved,
which side goes first alternating (an even number of rounds, so each side goes first as often); on
SQLite the write-ahead log is checkpointed (not timed) before each side, so an automatic checkpoint never
lands in one side's commit for the other's pages. Ratio ours / baseline round by round. Goal: <= 3x. On
SQLite, also the ratio of the CPU time the process spent (the database's work is in it), steadier than
wall time on a loaded machine. Also printed: the statements each sends per pass (SAVEPOINT and RELEASE
among them; a BEGIN or COMMIT the driver sends on its own, as asyncpg does, is not seen, SQLite's BEGIN is).

By default the objectives of a series share their terms (ten agreements taking one offering's
target), so the pass judges each series once and fans the outcome out; `--distinct-terms` gives
every objective its own target, so each one is judged on its own.

Then the flagged path (what the worker runs right after a breaching ingest commits):
  ours     : one objective flagged among all the others, `evaluate_flagged` choosing, locking,
             reading, judging and writing it in one transaction
  baseline : the same eight tallies of that one objective's series in one SQL statement, and one
             UPDATE of its row, in one transaction
`--flagged-rounds` rounds (interleaved), p50 and p90 of each, ratio of the medians.

Run: .venv/bin/python bench/evaluation_bench.py [--database sqlite|postgresql|both] [--objectives 1000] [--series 100]
     [--distinct-terms] [--recent-share 0.2] [--rounds 4] [--flagged-rounds 50]
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import statistics
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

from benchlib.stack import databases
from benchlib.stats import line, percentile, ratios
from sqlalchemy import bindparam, event, insert, text, update
from sqlmodel import SQLModel

from slm_measurement.flagged_pass import evaluate_flagged
from slm_measurement.models import DayBucket, HourBucket, MinuteBucket, Objective
from slm_measurement.service import evaluate_due
from slm_measurement.terms import AgreementTerms
from slm_shared.db import Database, is_postgres, utcnow
from slm_shared.testing.postgres import PostgresServer

SERIES_KEYS = "tenant, service, indicator"
TALLIES = text(
    f"""
    WITH d AS (
        SELECT {SERIES_KEYS}, sum(good) AS win_good, sum(total) AS win_total FROM day_buckets WHERE day >= :day30
        GROUP BY {SERIES_KEYS}),
    h AS (
        SELECT {SERIES_KEYS},
            sum(CASE WHEN hour >= :hour6 THEN good ELSE 0 END) AS g6,
            sum(CASE WHEN hour >= :hour6 THEN total ELSE 0 END) AS t6,
            sum(CASE WHEN hour >= :hour24 THEN good ELSE 0 END) AS g24,
            sum(CASE WHEN hour >= :hour24 THEN total ELSE 0 END) AS t24,
            sum(good) AS g72, sum(total) AS t72
        FROM hour_buckets WHERE hour >= :hour72 GROUP BY {SERIES_KEYS}),
    m AS (
        SELECT {SERIES_KEYS},
            sum(CASE WHEN minute >= :minute5 THEN good ELSE 0 END) AS g5,
            sum(CASE WHEN minute >= :minute5 THEN total ELSE 0 END) AS t5,
            sum(CASE WHEN minute >= :minute30 THEN good ELSE 0 END) AS g30,
            sum(CASE WHEN minute >= :minute30 THEN total ELSE 0 END) AS t30,
            sum(good) AS g60, sum(total) AS t60
        FROM minute_buckets WHERE minute >= :minute60 GROUP BY {SERIES_KEYS})
    SELECT o.id, o.target, d.win_good, d.win_total,
        h.g6, h.t6, h.g24, h.t24, h.g72, h.t72, m.g5, m.t5, m.g30, m.t30, m.g60, m.t60
    FROM objectives o
    LEFT JOIN d ON d.tenant = o.tenant AND d.service = o.service_key AND d.indicator = o.indicator
    LEFT JOIN h ON h.tenant = o.tenant AND h.service = o.service_key AND h.indicator = o.indicator
    LEFT JOIN m ON m.tenant = o.tenant AND m.service = o.service_key AND m.indicator = o.indicator
    WHERE o.active
    """
)
# The same tallies for one objective: every bucket read is of its series only.
ONE_SERIES = "tenant = :tenant AND service = :service AND indicator = :indicator AND"
TALLIES_ONE = text(
    TALLIES.text.replace("FROM day_buckets WHERE", f"FROM day_buckets WHERE {ONE_SERIES}")
    .replace("FROM hour_buckets WHERE", f"FROM hour_buckets WHERE {ONE_SERIES}")
    .replace("FROM minute_buckets WHERE", f"FROM minute_buckets WHERE {ONE_SERIES}")
    .replace("WHERE o.active", "WHERE o.active AND o.id = :only")
)
FLAGGED = 7  # objective-7, on series service-(7 % series) as seeded


def recent(n: int, share: float) -> bool:
    """Whether objective n's agreement started inside the window: `share` of them, spread evenly."""
    return int((n + 1) * share) > int(n * share)


async def seed(
    db: Database, *, objectives: int, series: int, distinct_terms: bool = False, recent_share: float = 0.0
) -> None:
    async with db.engine.begin() as connection:
        await connection.run_sync(SQLModel.metadata.create_all)
    now = int(utcnow().timestamp())
    day, hour, minute = now // 86400, now // 3600, now // 60
    names = [f"service-{n}" for n in range(series)]
    # As activation leaves them, its version's terms stored (`terms.store_activation`): in force from before
    # any window it reads (every range counted whole), or, for `recent_share` of them, from inside every window.
    long_ago, lately = utcnow() - timedelta(days=120), utcnow().replace(second=17) - timedelta(days=10)

    def effective_from(n: int) -> datetime:
        return lately if recent(n, recent_share) else long_ago

    def target(n: int) -> float:
        return 0.99 - n * 1e-6 if distinct_terms else 0.99

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
                    "target": target(n),
                    "window_kind": "rolling",
                    "window_duration": "30d",
                    "maintenance_windows": [],
                    "details": {},
                    "firing_alerts": [],
                    "effective_from": effective_from(n),
                    "created_at": utcnow(),
                    "updated_at": utcnow(),
                }
                for n in range(objectives)
            ],
        )
        await session.execute(
            insert(AgreementTerms),
            [terms(n, names[n % series], target(n), effective_from(n)) for n in range(objectives)],
        )
    if is_postgres(db.engine):  # statistics, as autovacuum keeps them on a live database
        async with db.engine.begin() as connection:
            await connection.execute(text("ANALYZE"))


def terms(n: int, service: str, target: float, effective_from: datetime) -> dict[str, object]:
    """The stored terms of objective n's agreement (version 1), with its activation as received."""
    payload = {
        "agreement_id": f"agreement-{n}",
        "version": 1,
        "kind": "SLA",
        "name": f"Agreement {n}",
        "service_key": service,
        "effective_from": effective_from.isoformat(),
        "objectives": [
            {
                "objective_id": "availability",
                "indicator": "availability",
                "target": target,
                "window": {"kind": "rolling", "duration": "30d"},
            }
        ],
    }
    return {
        "id": f"terms-{n}",
        "tenant": "bench",
        "agreement_id": f"agreement-{n}",
        "version": 1,
        "name": f"Agreement {n}",
        "kind": "SLA",
        "service_key": service,
        "effective_from": effective_from,
        "activated_at": effective_from,
        "ticket_targets": [],
        "credit_schedule": [],
        "payload": payload,
        "risks": [],
    }


class Statements:
    """Counts the statements an engine sends while `counting` (and the savepoints among them); `stop` when done."""

    def __init__(self, db: Database) -> None:
        self.counting, self.sent, self.savepoints = False, 0, 0
        self.engine = db.engine.sync_engine
        event.listen(self.engine, "before_cursor_execute", self.seen)

    def stop(self) -> None:
        """No longer listen: the timed rounds run without the counter's hook."""
        self.counting = False
        event.remove(self.engine, "before_cursor_execute", self.seen)

    def seen(self, _conn: object, _cursor: object, statement: str, *_: object) -> None:
        if self.counting:
            self.sent += 1
            self.savepoints += statement.lstrip().upper().startswith(("SAVEPOINT", "RELEASE"))


def settled(db: Database) -> None:
    """SQLite: the write-ahead log checkpointed into the database file (not timed), so neither side pays for
    the other's pages: an automatic checkpoint otherwise lands in whichever commit crosses 1,000 pages."""
    path = db.engine.url.database
    if db.engine.dialect.name == "sqlite" and path:
        connection = sqlite3.connect(path)
        try:
            busy, _, _ = connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            assert busy == 0, "the checkpoint was blocked: a reader or writer still open"
        finally:
            connection.close()


async def full_pass(db: Database, objectives: int, counted: Statements | None = None) -> tuple[float, float]:
    """The wall time and the process's CPU time of one pass over every objective (on SQLite, its work included)."""
    async with db.session() as session:
        await session.execute(update(Objective).values(needs_evaluation=True))
    settled(db)
    started, cpu = time.perf_counter(), time.process_time()
    if counted is not None:
        counted.counting = True
    evaluated = await evaluate_due(db, interval=timedelta(seconds=0), limit=objectives)
    elapsed, spent = time.perf_counter() - started, time.process_time() - cpu
    if counted is not None:
        counted.counting = False
    assert evaluated == objectives, evaluated
    return elapsed, spent


def ratio(good: float | None, total: float | None) -> float | None:
    return None if not total else (good or 0.0) / total


async def flagged_pass(db: Database) -> float:
    """One objective flagged as ingestion flags it, then the worker's flagged pass (timed)."""
    async with db.session() as session:
        await session.execute(
            update(Objective).where(Objective.id == f"objective-{FLAGGED}").values(needs_evaluation=True)
        )
    settled(db)
    started = time.perf_counter()
    evaluated = await evaluate_flagged(db, limit=100)
    elapsed = time.perf_counter() - started
    assert evaluated == 1, evaluated
    return elapsed


async def sql_pass(db: Database, objectives: int, *, only: tuple[str, str] | None = None) -> tuple[float, float]:
    """The same tallies in one statement, statuses written back in one bulk UPDATE (or of one objective).

    Its wall time and the process's CPU time, as `full_pass`."""
    settled(db)
    started, cpu = time.perf_counter(), time.process_time()
    now = int(utcnow().timestamp())
    day, hour, minute = now // 86400, now // 3600, now // 60
    bounds = {
        "day30": day - 30,
        "hour6": hour - 6,
        "hour24": hour - 24,
        "hour72": hour - 72,
        "minute5": minute - 5,
        "minute30": minute - 30,
        "minute60": minute - 60,
    }
    if only is not None:  # (objective id, its service)
        bounds |= {"only": only[0], "tenant": "bench", "service": only[1], "indicator": "availability"}
    async with db.session() as session:
        rows = (await session.execute(TALLIES if only is None else TALLIES_ONE, bounds)).all()
        outcomes = []
        for row in rows:
            attainment = ratio(row.win_good, row.win_total)
            bad_shares = [ratio((row[i + 1] or 0) - (row[i] or 0), row[i + 1]) for i in range(4, 16, 2)]
            burn_rates = [None if share is None else share / (1 - row.target) for share in bad_shares]
            status = "no_data" if attainment is None else ("healthy" if attainment >= row.target else "breached")
            outcomes.append(
                {
                    "row_id": row.id,
                    "status": status,
                    "attainment": attainment,
                    "good": row.win_good or 0,
                    "total": row.win_total or 0,
                    "details": {"burn_rates": burn_rates},
                }
            )
        table = Objective.__table__  # type: ignore[attr-defined]
        statement = (
            update(table)
            .where(table.c.id == bindparam("row_id"))
            .values(
                status=bindparam("status"),
                attainment=bindparam("attainment"),
                good=bindparam("good"),
                total=bindparam("total"),
                details=bindparam("details"),
            )
        )
        await session.execute(statement, outcomes)
    assert len(outcomes) == (objectives if only is None else 1), len(outcomes)
    return time.perf_counter() - started, time.process_time() - cpu


async def bench(database: str, args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="slm-eval-bench-") as folder:
        postgres = PostgresServer().start() if database == "postgresql" else None
        try:
            url = postgres.create_database("evaluation") if postgres else f"sqlite+aiosqlite:///{Path(folder) / 'e.db'}"
            db = Database(url)
            await seed(
                db,
                objectives=args.objectives,
                series=args.series,
                distinct_terms=args.distinct_terms,
                recent_share=args.recent_share,
            )
            await full_pass(db, args.objectives)  # warm-up
            counted = Statements(db)
            await full_pass(db, args.objectives, counted)  # statements of one pass (not timed)
            counted.stop()
            sql = Statements(db)
            sql.counting = True
            await sql_pass(db, args.objectives)
            sql.stop()
            ours, baseline, ours_cpu, baseline_cpu = [], [], [], []
            for round_number in range(args.rounds):  # which side goes first alternates (an even count)
                sides = [full_pass, sql_pass] if round_number % 2 == 0 else [sql_pass, full_pass]
                for side in sides:
                    wall, cpu = await side(db, args.objectives)
                    (ours if side is full_pass else baseline).append(wall)
                    (ours_cpu if side is full_pass else baseline_cpu).append(cpu)
            flagged, one = [], []
            for _ in range(args.flagged_rounds):
                flagged.append(await flagged_pass(db))
                only = (f"objective-{FLAGGED}", f"service-{FLAGGED % args.series}")
                one.append((await sql_pass(db, args.objectives, only=only))[0])
            await db.dispose()
        finally:
            if postgres is not None:
                postgres.stop()
    per = [s / args.objectives * 1000 for s in ours]
    terms = "each its own terms" if args.distinct_terms else "the objectives of a series sharing their terms"
    print(
        f"\n{database}: {args.objectives:,} objectives on {args.series:,} series ({terms}), 30-day windows, "
        f"{args.rounds} rounds"
    )
    clipped = sum(recent(n, args.recent_share) for n in range(args.objectives))
    print(
        f"  mix: {args.objectives - clipped:,} agreements in force 120 days (every range whole: shared plans), "
        f"{clipped:,} started inside the window (clipped: plans of their own)"
    )
    print(line("evaluation pass", ours, "s", "{:.2f}"))
    print(line("evaluation pass per objective", per, "ms", "{:.2f}"))
    print(line("one SQL pass + bulk UPDATE", baseline, "s", "{:.3f}"))
    print(line("ratio ours / SQL pass (goal <= 3)", ratios(ours, baseline), "x", "{:.1f}"))
    if database == "sqlite":  # PostgreSQL's own work is another process's CPU
        print(line("CPU ratio, this process (SQLite's work in it)", ratios(ours_cpu, baseline_cpu), "x", "{:.1f}"))
    print(
        f"  {'statements per pass (ours / SQL pass)':<44} {counted.sent} ({counted.savepoints} SAVEPOINT or RELEASE)"
        f" / {sql.sent}"
    )
    if flagged:
        print(f"  one flagged objective, {args.flagged_rounds} rounds (p50 / p90):")
        print(f"  {'flagged pass (evaluate_flagged)':<44} {ms(flagged)}")
        print(f"  {'that objective in one SQL statement + UPDATE':<44} {ms(one)}")
        print(f"  {'ratio of the medians':<44} {statistics.median(flagged) / statistics.median(one):.1f} x")


def ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:.1f} / {percentile(values, 0.9) * 1000:.1f} ms"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--objectives", type=int, default=1_000)
    parser.add_argument("--series", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=4, help="even: each side goes first as often")
    parser.add_argument("--distinct-terms", action="store_true", help="every objective its own target")
    parser.add_argument("--flagged-rounds", type=int, default=50, help="single flagged objective rounds (0: none)")
    parser.add_argument(
        "--recent-share", type=float, default=0.0, help="share of agreements started inside the window (clipped)"
    )
    args = parser.parse_args()
    if args.rounds < 2 or args.rounds % 2:
        parser.error("--rounds: an even number (which side goes first alternates)")
    if not 0.0 <= args.recent_share <= 1.0:
        parser.error("--recent-share: between 0 and 1")
    for database in databases(args.database):
        await bench(database, args)


if __name__ == "__main__":
    asyncio.run(main())
