"""A breaching REST ingest in as few statements as it needs; its evaluation takes savepoints only when tried again.

The first try evaluates the batch's objectives without a savepoint (no SAVEPOINT and RELEASE round
trips). If that fails, the whole transaction is rolled back and the batch ingested again with its
evaluation guarded: stored once, acknowledged once, an Idempotency-Key replayed as usual.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from test_evaluation_pass_optimistic import savepoints, statements
from test_evaluation_wake import INGEST, agreement_on, breaching
from test_evaluation_with_ingest import _objective, _quiet, _total, refuse_outbox
from ticket_support import outbox

from slm_measurement import inline_evaluation, service
from slm_shared.contracts.registry import EVENTS
from slm_shared.db import Database

BREACHED = EVENTS.objective_breached.type
# Per breaching ingest of one series with one objective: the catalogue keys with the objectives on its services,
# three bucket upserts, the flag update returning the flagged row, the tallies, the outcome, its transition and its
# events. On SQLite the flag update returns the agreement's terms too (`flag_terms`), the transition is a statement
# of its own, and BEGIN IMMEDIATE is one; on PostgreSQL the terms are read by a statement of their own (after the
# flag's lock wait) and the transition is inserted by the outcome's UPDATE (asyncpg's BEGIN and both COMMITs are no
# cursor's).
STATEMENTS = {"sqlite": 10, "postgresql": 9}


async def test_a_breaching_ingest_records_its_breach_without_a_savepoint(app_client) -> None:  # type: ignore[no-untyped-def]
    app, client = app_client
    db: Database = app.state.db
    key = f"count-{uuid.uuid4().hex[:8]}"
    agreement_id = await agreement_on(db, key)
    assert await service.evaluate_due(db, interval=timedelta(hours=1), limit=100) >= 1
    await _quiet(db, key)

    with statements(db) as sent:
        response = await client.post("/v1/measurements", json=breaching(key), headers=INGEST)
    assert response.status_code == 202, response.text

    assert savepoints(sent) == []
    assert len(sent) == STATEMENTS[db.engine.dialect.name], sent
    assert len(await outbox(db, BREACHED, agreement_id=agreement_id)) == 1
    assert (await _objective(db, agreement_id)).status == "breached"


async def test_a_batch_whose_evaluation_fails_is_ingested_again_guarded_and_stored_once(
    app_client, caplog: pytest.LogCaptureFixture
) -> None:  # type: ignore[no-untyped-def]
    app, client = app_client
    db: Database = app.state.db
    key = f"again-{uuid.uuid4().hex[:8]}"
    agreement_id = await agreement_on(db, key)
    assert await service.evaluate_due(db, interval=timedelta(hours=1), limit=100) >= 1
    await _quiet(db, key)
    await refuse_outbox(db)
    headers = {**INGEST, "Idempotency-Key": f"batch-{key}"}
    body = breaching(key)  # built once: its points are stamped with the current minute, and the replay must match
    caplog.set_level(logging.WARNING, logger="slm_measurement.service")

    with statements(db) as sent:
        response = await client.post("/v1/measurements", json=body, headers=headers)
    assert response.status_code == 202, response.text

    upserts = [s for s in sent if s.startswith("INSERT INTO MINUTE_BUCKETS")]
    assert len(upserts) == 2, "the batch ingested again after its optimistic try was rolled back"
    assert savepoints(sent)[0].startswith("SAVEPOINT"), "the second try guarded"
    [retried] = [r for r in caplog.records if "ingested again" in r.getMessage()]  # the first try's error, not lost
    assert retried.levelname == "WARNING" and retried.exc_info is not None
    assert isinstance(retried.exc_info[1], inline_evaluation.EvaluateAgainGuarded)
    assert "REFUSED" in str(retried.exc_info[1].__cause__).upper()
    assert await _total(db, key) == 5000  # stored once
    found = await _objective(db, agreement_id)
    assert (found.status, found.needs_evaluation) == ("no_data", True)  # left for the worker
    assert await outbox(db, BREACHED, agreement_id=agreement_id) == []

    again = await client.post("/v1/measurements", json=body, headers=headers)
    assert (again.status_code, again.json()) == (202, response.json())  # the key replays the acknowledgement
    assert await _total(db, key) == 5000


async def test_a_batch_whose_commit_a_deferred_constraint_refuses_is_ingested_again_guarded_and_stored(
    app_client, caplog: pytest.LogCaptureFixture
) -> None:  # type: ignore[no-untyped-def]
    app, client = app_client
    db: Database = app.state.db
    if db.engine.dialect.name != "postgresql":
        pytest.skip("deferred constraint triggers are PostgreSQL's")
    key = f"deferred-{uuid.uuid4().hex[:8]}"
    agreement_id = await agreement_on(db, key)
    assert await service.evaluate_due(db, interval=timedelta(hours=1), limit=100) >= 1
    await _quiet(db, key)
    await refuse_outbox(db, deferred=True)  # a real constraint trigger refusing every outbox row, at COMMIT
    caplog.set_level(logging.WARNING, logger="slm_measurement.service")

    with statements(db) as sent:
        response = await client.post("/v1/measurements", json=breaching(key), headers=INGEST)
    assert response.status_code == 202, response.text

    upserts = [s for s in sent if s.startswith("INSERT INTO MINUTE_BUCKETS")]
    assert len(upserts) == 2, "the batch ingested again after its COMMIT was refused"
    retry = [n for n, s in enumerate(sent) if s.startswith("INSERT INTO MINUTE_BUCKETS")][1]
    assert "SET CONSTRAINTS ALL IMMEDIATE" in sent[:retry], "the second try's constraints checked at once"
    assert savepoints(sent[retry:])[0].startswith("SAVEPOINT"), "the second try guarded"
    assert "COMMIT was refused" in caplog.text
    assert await _total(db, key) == 5000  # stored once
    found = await _objective(db, agreement_id)
    assert (found.status, found.needs_evaluation) == ("no_data", True)  # left for the worker
    assert await outbox(db, BREACHED, agreement_id=agreement_id) == []


async def test_a_flagged_row_left_to_the_worker_is_not_decoded_though_the_flag_update_returns_it(app_client) -> None:  # type: ignore[no-untyped-def]
    """Evaluated a moment ago, the objective is not due: its row comes back with the flag but is never decoded."""
    app, client = app_client
    db: Database = app.state.db
    if db.engine.dialect.name != "sqlite":
        pytest.skip("only SQLite stores JSON text it cannot decode")
    app.state.settings = app.state.settings.model_copy(update={"ingest_evaluation_interval_seconds": 3600.0})
    key = f"undecoded-{uuid.uuid4().hex[:8]}"
    agreement_id = await agreement_on(db, key)
    assert await service.evaluate_due(db, interval=timedelta(hours=1), limit=100) >= 1  # evaluated just now
    async with db.session() as session:
        await session.execute(
            text("UPDATE objectives SET observed = 'not json {' WHERE agreement_id = :a"), {"a": agreement_id}
        )

    with statements(db) as sent:
        response = await client.post("/v1/measurements", json=breaching(key), headers=INGEST)
    assert response.status_code == 202, response.text
    [flag] = [s for s in sent if s.startswith("UPDATE OBJECTIVES SET NEEDS_EVALUATION")]
    assert "OBSERVED" in flag  # returned with the flag
    assert await _total(db, key) == 5000


async def test_a_commit_refused_by_the_server_is_a_refusal_and_a_lost_connection_is_not(postgres_url: str) -> None:
    """On real asyncpg errors: a deferred unique key refusing COMMIT (23505) is retried, and so is a COMMIT
    cancelled (57014: PostgreSQL cancels one only before it commits); a backend terminated mid-transaction (an 08
    or 57P SQLSTATE) is not, even where the connection was not marked invalidated."""
    db = Database(postgres_url)
    try:
        async with db.engine.connect() as connection:
            await connection.execute(text("CREATE TEMP TABLE once (id int UNIQUE DEFERRABLE INITIALLY DEFERRED)"))
            await connection.execute(text("INSERT INTO once VALUES (1), (1)"))
            with pytest.raises(DBAPIError) as refused:
                await connection.commit()
        assert refused.value.orig.sqlstate == "23505"  # type: ignore[union-attr]
        assert service._refused(refused.value)

        async with db.engine.connect() as cancelled_at_commit, db.engine.connect() as other:
            pid = await cancelled_at_commit.scalar(text("SELECT pg_backend_pid()"))
            await cancelled_at_commit.execute(text("CREATE TEMP TABLE slow (id int)"))
            await cancelled_at_commit.execute(
                text(
                    "CREATE FUNCTION pg_temp.slow() RETURNS trigger LANGUAGE plpgsql AS"
                    " $$ BEGIN PERFORM pg_sleep(30); RETURN NULL; END $$"
                )
            )
            await cancelled_at_commit.execute(
                text(
                    "CREATE CONSTRAINT TRIGGER slow AFTER INSERT ON slow DEFERRABLE INITIALLY DEFERRED"
                    " FOR EACH ROW EXECUTE FUNCTION pg_temp.slow()"
                )
            )
            await cancelled_at_commit.execute(text("INSERT INTO slow VALUES (1)"))
            committing = asyncio.create_task(cancelled_at_commit.commit())
            await other.execution_options(isolation_level="AUTOCOMMIT")
            sleeping = text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid AND wait_event = 'PgSleep'")
            while not await other.scalar(sleeping, {"pid": pid}):
                await asyncio.sleep(0.01)
            await other.execute(text("SELECT pg_cancel_backend(:pid)"), {"pid": pid})
            with pytest.raises(DBAPIError) as cancelled:
                await committing
        assert cancelled.value.orig.sqlstate == "57014"  # type: ignore[union-attr]
        assert service._refused(cancelled.value)

        async with db.engine.connect() as doomed, db.engine.connect() as other:
            pid = await doomed.scalar(text("SELECT pg_backend_pid()"))
            await other.execution_options(isolation_level="AUTOCOMMIT")  # pg_stat_activity read afresh each time
            waiting = asyncio.create_task(doomed.execute(text("SELECT pg_sleep(30)")))
            busy = text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid AND query LIKE '%pg_sleep%'")
            while not await other.scalar(busy, {"pid": pid}):
                await asyncio.sleep(0.01)
            await other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})  # lost mid-statement
            with pytest.raises(DBAPIError) as lost:
                await waiting
        sqlstate = lost.value.orig.sqlstate  # type: ignore[union-attr]
        assert sqlstate is not None and sqlstate.startswith(("08", "57P")), repr(lost.value.orig)
        assert not service._refused(lost.value)
        lost.value.connection_invalidated = False  # its SQLSTATE alone says the connection was lost
        assert not service._refused(lost.value)
    finally:
        await db.dispose()


@pytest.mark.parametrize("payload", ["not json {", "[1]"])
async def test_terms_returned_with_the_flag_that_cannot_be_worked_out_fail_the_objective_not_the_batch(
    app_client, payload: str
) -> None:  # type: ignore[no-untyped-def]
    """A due objective's terms come back with the flag and are worked out before its evaluation: a stored payload
    that is not JSON (SQLite keeps any text), or JSON that is not an object, is read again by the evaluation and
    fails there, as it did when the evaluation read it first: the objective's failure, the batch stored and
    acknowledged, the objective flagged."""
    app, client = app_client
    db: Database = app.state.db
    if db.engine.dialect.name != "sqlite":
        pytest.skip("only SQLite stores JSON text it cannot decode")
    key = f"terms-{uuid.uuid4().hex[:8]}"
    agreement_id = await agreement_on(db, key)
    assert await service.evaluate_due(db, interval=timedelta(hours=1), limit=100) >= 1
    await _quiet(db, key)
    async with db.session() as session:
        await session.execute(
            text("UPDATE agreement_terms SET payload = :p WHERE agreement_id = :a"), {"a": agreement_id, "p": payload}
        )

    response = await client.post("/v1/measurements", json=breaching(key), headers=INGEST)
    assert response.status_code == 202, response.text
    assert await _total(db, key) == 5000
    found = await _objective(db, agreement_id)
    assert (found.status, found.needs_evaluation) == ("no_data", True)  # left for the worker
    assert await outbox(db, BREACHED, agreement_id=agreement_id) == []
