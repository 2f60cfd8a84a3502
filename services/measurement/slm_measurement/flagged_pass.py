"""The worker's flagged pass: objectives ingestion flagged, chosen, locked and evaluated a chunk at a time.

Like the periodic pass (`evaluation_pass.evaluate_ids`), a chunk is first evaluated with no savepoint at
all; only if that fails on an objective's data or code is its transaction rolled back and the same
objectives, those still flagged, evaluated again in a new one, guarded: the bad objective is logged
and skipped alone, its siblings stored, each event exactly once. A transient failure
(`chunk_failures.transient`) is raised for the worker to back off, and a chunk holding an objective
that failed before, unchanged since, is guarded at once. A chunk of one objective (the usual case
after a breaching ingest) is never tried again: if it fails on its data it is logged, left flagged and
its version remembered (so a batch does not try it inline until it changes); a transient failure of it
is raised too.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from slm_measurement import pass_locks
from slm_measurement.chunk_failures import ChunkFailures, failed_lately, remember, transient
from slm_measurement.evaluation_pass import IMMEDIATE, evaluate_chunk
from slm_shared.db import Database, utcnow
from slm_shared.tasks import checkpoint

# The periodic pass's logger, as `chunk_failures` logs under it: every evaluation failure under one name,
# whichever pass met it, for the operator's filter and alerting.
logger = logging.getLogger("slm_measurement.evaluation_pass")

# `lock_due_objectives` with nothing stale: only those still flagged (or never evaluated), as first chosen.
_STILL_FLAGGED = datetime(1970, 1, 1, tzinfo=UTC)


async def evaluate_flagged(db: Database, *, limit: int, chunk: int = 200) -> int:
    """Evaluate the objectives ingestion flagged, and those never evaluated, at most `limit` of them.

    Each chunk is chosen, locked and evaluated in one transaction (no separate read of the due ids):
    the short path from a breaching ingest to its status event. Objectives another worker holds are
    skipped; one that fails is logged and left flagged for the next pass, not retried in this one.
    On SQLite its transaction takes the writer turn ahead of the ordinary writers waiting (the ingest
    consumer's, the periodic passes'), bounded by `WriterQueue`.
    """
    evaluated, done = 0, list[str]()
    while len(done) < limit:
        size = min(chunk, limit - len(done))
        stored, chosen = await _evaluate_chunk(db, size=size, done=done)
        evaluated += stored
        done += chosen
        if len(chosen) < size:
            break
    return evaluated


async def _evaluate_chunk(db: Database, *, size: int, done: list[str]) -> tuple[int, list[str]]:
    """Up to `size` flagged objectives (not in `done`) evaluated: how many were stored, and which were chosen."""
    failures, chosen, guarded = ChunkFailures(), list[str](), False
    while True:
        try:
            async with db.session(urgent=True) as session:  # on SQLite, ahead of queued background writers
                failures.attach(session)
                now = utcnow()
                if not chosen:
                    objectives = await pass_locks.lock_flagged_objectives(session, limit=size, done=done)
                    chosen = [o.id for o in objectives]
                else:  # tried before and rolled back: those of them still flagged
                    objectives = await pass_locks.lock_due_objectives(
                        session, objective_row_ids=chosen, stale_before=_STILL_FLAGGED
                    )
                ids = [o.id for o in objectives]
                guarded = guarded or (len(ids) > 1 and await failed_lately(session, ids))
                if guarded and db.engine.dialect.name == "postgresql":
                    await session.execute(IMMEDIATE)  # a deferred constraint fails in its row's savepoint
                stored = await evaluate_chunk(session, objectives, now=now, guarded=guarded)
                await remember(session, failures, ids)
            return stored, chosen
        except Exception as error:
            # A cancellation a library turned into an error (the worker is stopping): no other transaction.
            checkpoint()
            # The database's moment, not an objective's data: raised, even for a chunk of one, for the worker.
            if transient(error) or not chosen:
                raise
            if len(chosen) == 1:
                logger.exception("evaluation of objective %s failed", chosen[0])
                await _remember_alone(db, chosen[0])
                return 0, chosen
            if guarded:
                raise
            logger.warning(
                "evaluating %d flagged objectives together failed; again, each failure isolated",
                len(chosen),
                exc_info=error,
            )
            guarded = True


async def _remember_alone(db: Database, objective_row_id: str) -> None:
    """A chunk of one rolled back whole: its objective's version, read after, remembered as failed.

    So a batch does not try it in its own transaction again until its version changes (`chunk_failures`,
    one memory for every evaluator); at worst a version changed in between is skipped inline once.
    """
    try:
        async with db.session(read_only=True) as session:
            await remember(session, ChunkFailures(failed={objective_row_id}), [])
    except Exception:  # bookkeeping only: the evaluation's own failure is logged already
        logger.warning("could not remember the failed version of objective %s", objective_row_id, exc_info=True)
