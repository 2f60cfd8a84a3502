"""A batch's due objectives evaluated in the batch's transaction, so a breach commits its event with its points."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from slm_measurement import repository
from slm_measurement.agreed import Agreed
from slm_measurement.chunk_failures import ChunkFailures, remember_failed, transient
from slm_measurement.evaluation_pass import evaluate_chunk
from slm_shared.db import utcnow

# The service's logger, as `service.ingest_with_guarded_retry` logs under it: a batch's evaluation failures under
# one name, as they were logged before this module was split out of `service`.
logger = logging.getLogger("slm_measurement.service")


class EvaluateAgainGuarded(Exception):
    """A batch's evaluation without savepoints failed: roll its transaction back, ingest it again `guarded`."""


async def evaluate_flagged_here(
    session: AsyncSession,
    flagged: list[repository.ObjectiveRow],
    versions: dict[str, datetime],
    *,
    guarded: bool = True,
    agreements: dict[tuple[str, str], Agreed] | None = None,
) -> int:
    """Evaluate objectives this transaction flagged (and so holds), in savepoints; how many were stored.

    `agreements`: their agreements' stored versions, when read with the flag (`flagging.terms_of`, SQLite only); read
    here otherwise (on PostgreSQL after the flag's lock wait, so as of the row it returned).

    Not `guarded` (the first try of a REST ingest): no savepoint at all, sparing its SAVEPOINT and RELEASE
    round trips; a failure raised while evaluating (in SQL, or after a write) raises `EvaluateAgainGuarded`:
    the transaction (the batch with it) is rolled back whole and the caller ingests the batch again, its
    evaluation guarded as below (`service.ingest_with_guarded_retry`). A plan that fails wrote nothing: that
    objective is skipped and remembered, the others stored, with no retry. Acknowledged still means
    stored, and an event is committed only with the evaluation that produced it.

    The outcomes, their transition rows and their outbox events commit with the transaction, or not at
    all. All are evaluated in one savepoint; if that fails, it alone is rolled back and each is evaluated
    in its own, so one bad objective keeps neither its siblings nor the batch from being stored. One that
    fails stays flagged for the worker; its version (`versions`) is logged once and not tried here again
    (`chunk_failures.remember_failed`: the periodic passes then guard its chunk at once, and an objective
    that failed in a pass is not tried here either).
    """
    now = utcnow()
    if not guarded:
        return await _evaluate_unguarded(session, flagged, versions, now=now, agreements=agreements)
    try:
        async with session.begin_nested():
            return await _evaluate_all(session, flagged, now=now, agreements=agreements)
    except Exception as error:  # noqa: BLE001 - retried one by one below
        if len(flagged) == 1:
            _failed_inline(flagged[0].id, versions, error)
            return 0
    evaluated = 0
    for objective in flagged:
        try:
            async with session.begin_nested():
                evaluated += await _evaluate_all(session, [objective], now=now, agreements=agreements)
        except Exception as error:  # noqa: BLE001 - one bad objective must not stop its siblings
            _failed_inline(objective.id, versions, error)
    return evaluated


async def _evaluate_unguarded(
    session: AsyncSession,
    flagged: list[repository.ObjectiveRow],
    versions: dict[str, datetime],
    *,
    now: datetime,
    agreements: dict[tuple[str, str], Agreed] | None,
) -> int:
    """Evaluate with no savepoint; a failure raised in SQL (or after a write) asks for the guarded retry.

    An objective whose plan fails is not such a failure: planning is pure Python and wrote nothing, so the
    pass logs it once and skips it (`evaluate_chunk`), its siblings are stored, and it is remembered here
    (`remember_failed`) and left flagged for the worker, with no retry.
    """
    failures = ChunkFailures()
    failures.attach(session)  # `objective_failed` notes the objectives whose plan failed
    try:
        evaluated = await evaluate_chunk(session, flagged, now=now, guarded=False, agreements=agreements)
        # Its outbox rows: an immediate constraint or trigger refusing one fails here (a deferred one at COMMIT).
        await session.flush()
    except Exception as error:
        raise EvaluateAgainGuarded(f"evaluating {len(flagged)} objectives with their batch failed") from error
    for objective_row_id in sorted(failures.failed):
        remember_failed(objective_row_id, versions[objective_row_id])
    return evaluated


class _NotAllStored(Exception):
    """An objective of the savepoint was not stored (its plan failed, logged by the pass)."""


async def _evaluate_all(
    session: AsyncSession,
    flagged: list[repository.ObjectiveRow],
    *,
    now: datetime,
    agreements: dict[tuple[str, str], Agreed] | None,
) -> int:
    stored = await evaluate_chunk(session, flagged, now=now, guarded=False, agreements=agreements)
    if stored < len(flagged):
        raise _NotAllStored(f"{len(flagged) - stored} of {len(flagged)} objectives not stored")
    return stored


def _failed_inline(objective_row_id: str, versions: dict[str, datetime], error: Exception) -> None:
    if transient(error):  # a lock timeout, a lost connection, a deadlock: the next batch may try again
        logger.warning(
            "evaluating objective %s with its batch failed (%s); the worker evaluates it", objective_row_id, error
        )
        return
    remember_failed(objective_row_id, versions[objective_row_id])  # the passes guard it at once, too
    logger.error(
        "evaluating objective %s with its batch failed; the worker evaluates it (logged once per version)",
        objective_row_id,
        exc_info=error,
    )
