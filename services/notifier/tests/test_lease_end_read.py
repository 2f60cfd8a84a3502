"""The idle look's read of when the earliest claim ends seeks `ix_deliveries_due` by status and due time, and still
finds the claims a worker holds: every claimed delivery was due when it was claimed."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update
from test_fresh_jobs_in_hand import breach, subscribe

from slm_notifier.claims import claim_due, next_lease_end_statement
from slm_notifier.models import Delivery
from slm_notifier.queued import write_queued
from slm_notifier.service import fan_out
from slm_shared.db import Database, is_postgres, utcnow
from slm_shared.migrations import upgrade


async def test_the_lease_end_read_is_a_range_seek_on_the_due_index(database_url: str) -> None:
    await upgrade("slm_notifier", database_url)
    db = Database(database_url)
    try:
        statement = next_lease_end_statement(utcnow())
        sql = str(statement.compile(dialect=db.engine.dialect, compile_kwargs={"literal_binds": True}))
        async with db.engine.connect() as connection:
            if is_postgres(db.engine):
                # the table is empty here: with sequential scans allowed the planner reads it whole
                await connection.exec_driver_sql("SET enable_seqscan = off")
                plan = "\n".join(row[0] for row in await connection.exec_driver_sql(f"EXPLAIN {sql}"))
                assert "ix_deliveries_due" in plan and "Index Cond" in plan, plan
                [condition] = [line for line in plan.splitlines() if "Index Cond" in line]
                assert "status" in condition and "next_attempt_at <=" in condition, plan
            else:
                plan = " ".join(str(row[-1]) for row in await connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}"))
                assert "USING INDEX ix_deliveries_due (status=? AND next_attempt_at<?)" in plan, plan
    finally:
        await db.dispose()


async def test_it_finds_the_end_of_a_claim_taken_by_a_round_and_of_one_taken_as_written(
    database_url: str, tenant: str
) -> None:
    await upgrade("slm_notifier", database_url)
    db = Database(database_url)
    try:
        await subscribe(db, tenant, "http://127.0.0.1:9/hook")
        async with db.session() as session:
            await fan_out(session, *breach(tenant))
        now = utcnow()
        by_round = now + timedelta(seconds=30)
        async with db.session() as session:
            [claimed] = await claim_due(session, now=now, limit=10, lease_until=by_round, token="round")
        async with db.session(read_only=True) as session:
            assert await session.scalar(next_lease_end_statement(utcnow())) == by_round

        as_written = utcnow() + timedelta(seconds=20)  # as `worker.preclaim` and `fresh.stamp_leases` claim
        async with db.session() as session:
            await fan_out(session, *breach(tenant))
            await write_queued(session)  # written now rather than at the commit, to be claimed here
            await session.execute(
                update(Delivery)
                .where(Delivery.id != claimed)  # type: ignore[arg-type]
                .values(claimed_until=as_written, claim_token="fresh")
            )
        async with db.session(read_only=True) as session:
            assert await session.scalar(next_lease_end_statement(utcnow())) == as_written
    finally:
        await db.dispose()
