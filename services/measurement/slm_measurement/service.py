"""Measurement operations: ingest a batch, evaluate an objective, evaluate what is due."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Row
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from slm_measurement import buckets, failures, flagging, read_model, repository, slices, thresholds
from slm_measurement.chunk_failures import failed_version
from slm_measurement.domain.budget import ErrorBudget, error_budget
from slm_measurement.evaluation_pass import IMMEDIATE, evaluate_ids, record_measurement
from slm_measurement.evaluator import measure
from slm_measurement.ingest import Batch
from slm_measurement.inline_evaluation import EvaluateAgainGuarded, evaluate_flagged_here
from slm_measurement.models import Objective, PendingActivation
from slm_measurement.rollup import roll_up, value_series
from slm_measurement.thresholds import Thresholds
from slm_measurement.wake_keys import EVALUATION_PENDING
from slm_shared.db import Database, connection_lost, utcnow
from slm_shared.errors import NotFound
from slm_shared.tasks import checkpoint

logger = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class IngestLimits:
    max_lateness: timedelta
    max_future: timedelta


async def ingest_batch(
    session: AsyncSession,
    *,
    tenant: str,
    batch: Batch,
    limits: IngestLimits,
    now: datetime | None = None,
    force: Thresholds | None = None,
    evaluate_up_to: int = 0,
    evaluate_every: timedelta = timedelta(seconds=1),
    guarded: bool = True,
) -> int:
    """Check the whole batch (against the limits as of `now`), add it to the buckets and flag its objectives.

    `force`: the thresholds in force on its value series when the caller read them already
    (`catalog_keys.check_batch_in_force`); read here otherwise. `evaluate_up_to`: when at most that many
    of the objectives it flags are due (not evaluated within `evaluate_every`), those are evaluated in this
    transaction (`inline_evaluation.evaluate_flagged_here`), so the first breaching batch after a quiet spell
    commits its breach's event with its points. The others stay flagged: the worker evaluates them, one
    evaluation for all the batches of a busy series. Not `guarded`: they are evaluated without savepoints, and a
    failure raises `EvaluateAgainGuarded` for the caller to roll the transaction back and ingest again.
    """
    now = now or utcnow()
    if force is None:
        force = await thresholds.in_force(session, tenant=tenant, series=value_series(batch))
    rollup = roll_up(batch, now=now, max_lateness=limits.max_lateness, max_future=limits.max_future, thresholds=force)
    if not rollup.points:
        return 0
    await buckets.upsert_rollup(session, tenant=tenant, rollup=rollup)
    await slices.reopen_late_spans(session, tenant=tenant, rollup=rollup, now=now)
    flagged = await flagging.flag_series_for_evaluation(
        session, tenant=tenant, series=rollup.series(), evaluated_before=now - evaluate_every, read=evaluate_up_to > 0
    )
    due = [f for f in flagged if f.due and failed_version(f.id) != f.updated_at]
    evaluated = 0
    if due and len(due) <= evaluate_up_to:
        versions = {f.id: f.updated_at for f in flagged}
        rows, agreements = flagging.rows_of(session, due), flagging.terms_of(session, due)
        evaluated = await evaluate_flagged_here(session, rows, versions, guarded=guarded, agreements=agreements)
    if evaluated < len(flagged):
        session.info[EVALUATION_PENDING] = True  # wakes the worker after commit
    return rollup.points


async def ingest_with_guarded_retry(db: Database, ingest: Callable[[AsyncSession, bool], Awaitable[T]]) -> T:
    """Run `ingest(session, guarded)` in a transaction of its own: unguarded first, once more guarded if that fails.

    The REST ingest owns its transaction (not the request's session dependency) because a failed first try
    is rolled back whole and the batch ingested again in a new transaction. Any `EvaluateAgainGuarded`,
    transient failures (a deadlock, a lock or statement timeout) included, gets one guarded retry: after a
    timeout the client waits for both tries, but its batch is stored. So does a first try whose COMMIT the
    database refused (`_refused`: a deferred constraint or trigger on PostgreSQL answered with an error, so
    nothing was stored); a COMMIT whose connection was lost is not tried again, as it may have been stored.
    On PostgreSQL every guarded try first sets `SET CONSTRAINTS ALL IMMEDIATE`, as the evaluation passes
    do, so a deferred check fails in its objective's savepoint, not at COMMIT. On SQLite no error carries
    an SQLSTATE, so a refused COMMIT is raised, not tried again. On SQLite both tries are urgent writers
    (`Database.session(urgent=True)`): a client waits, and the batch may record a breach.
    """
    committing = False
    try:
        async with db.session(urgent=True) as session:
            ingested = await ingest(session, False)
            committing = True
        return ingested
    except EvaluateAgainGuarded as error:
        checkpoint()  # a cancellation a library turned into an error: not ingested again
        logger.warning("a batch's inline evaluation failed; the batch is ingested again, guarded", exc_info=error)
    except DBAPIError as error:
        if not (committing and _refused(error)):
            raise
        checkpoint()
        logger.warning("a batch's COMMIT was refused; the batch is ingested again, guarded", exc_info=error)
    async with db.session(urgent=True) as session:
        if db.engine.dialect.name == "postgresql":
            await session.execute(IMMEDIATE)
        return await ingest(session, True)


def _refused(error: DBAPIError) -> bool:
    """Whether the database refused the statement (and so rolled back) rather than the connection was lost.

    A refusal is an error with an SQLSTATE (asyncpg's), but not every such error is one: asyncpg gives a lost
    connection one too (`slm_shared.db.connection_lost`), and after it the COMMIT may have been stored. A COMMIT
    cancelled by a cancel request (57014) is a refusal: PostgreSQL cancels one only before it commits."""
    return getattr(error.orig, "sqlstate", None) is not None and not connection_lost(error)


def budget_of(objective: Objective | Row[Any]) -> ErrorBudget:
    """The error budget of the objective's latest evaluation."""
    target = (objective.details or {}).get("budget_target")
    return error_budget(objective.attainment, objective.target if target is None else float(target))


async def evaluate_objective(session: AsyncSession, objective: Objective, *, now: datetime) -> str | None:
    """Evaluate over the current window, store the outcome; record events only on transitions."""
    return await record_measurement(session, objective, await measure(session, objective, now=now), now=now)


async def evaluate_now(session: AsyncSession, *, tenant: str, objective_row_id: str) -> Objective:
    """Evaluate one objective at once (waiting for a worker that holds it)."""
    objective = await repository.get_objective(session, tenant=tenant, objective_row_id=objective_row_id, lock=True)
    if objective is None:
        raise NotFound(f"No objective {objective_row_id}")
    await evaluate_objective(session, objective, now=utcnow())
    return objective


async def apply_due_versions(db: Database) -> int:
    """Apply agreement versions whose effective instant has come, and end expired objectives.

    Each version is applied in its own savepoint: one that fails is rolled back alone, recorded in
    `item_failures` with the reason and retried after a backoff, while the others are applied.
    """
    applied = 0
    async with db.session() as session:
        now = utcnow()
        held = await failures.held_back(session, kind=failures.PENDING_ACTIVATION, now=now)
        due = [(p.id, p.tenant) for p in await repository.due_activations(session, now=now, skip=held)]
        done = []
        for item_id, tenant in due:
            try:
                async with session.begin_nested():
                    if (pending := await session.get(PendingActivation, item_id)) is not None:
                        await read_model.apply_pending(session, pending)
            except Exception as exc:  # noqa: BLE001 - one bad version must not stop the others
                await failures.record(
                    session, kind=failures.PENDING_ACTIVATION, tenant=tenant, item_id=item_id, error=exc, now=now
                )
                continue
            done.append(item_id)
        await failures.succeeded(session, kind=failures.PENDING_ACTIVATION, item_ids=done)
        # A version dropped by a newer one or by an end fails no more.
        await failures.forget_missing(session, kind=failures.PENDING_ACTIVATION, id_column=PendingActivation.id)
        applied += len(done) + await read_model.expire_objectives(session, now=now)
    return applied


async def next_evaluation_at(db: Database, *, interval: timedelta) -> tuple[datetime | None, datetime | None]:
    """When the next objective evaluated within `interval` falls due again, and when the next pending agreement
    version takes effect (each None: none is waiting), in one read."""
    async with db.read_sessionmaker() as session:
        now = utcnow()
        due = await repository.next_stale_at(session, stale_before=now - interval, interval=interval)
        version = await repository.next_activation_at(session, after=now)
        await session.rollback()
    return due, version


async def evaluate_due(
    db: Database, *, interval: timedelta, limit: int, chunk: int = 200, yield_to: asyncio.Event | None = None
) -> int:
    """Evaluate the flagged objectives and those not evaluated within `interval`.

    Objectives are locked and evaluated `chunk` at a time in one transaction; one that fails is
    logged and skipped without undoing the others (see `evaluation_pass.evaluate_ids`). Once
    `yield_to` is set (fresh ingestion flagged objectives), no further chunk starts: the rest stay
    due for the next pass, and the caller evaluates the flagged ones first.
    """
    async with db.read_sessionmaker() as session:  # choosing takes no write lock; the chunks lock what they evaluate
        ids = await repository.due_objective_ids(session, stale_before=utcnow() - interval, limit=limit)
        await session.rollback()
    evaluated = 0
    for offset in range(0, len(ids), chunk):
        if offset and yield_to is not None and yield_to.is_set():
            break
        evaluated += await evaluate_ids(db, ids[offset : offset + chunk], interval=interval)
    return evaluated
