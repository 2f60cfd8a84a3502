"""What an evaluation does with a failure: raised when transient, else the objective's own.

A transient failure (a lost connection, a statement or lock timeout, a serialization failure or
deadlock, SQLite's "database is locked") is no objective's fault: it is raised, so the worker backs
off and the next pass tries every objective again. Any other failure (a constraint or trigger
refusing a row, a Python error) belongs to one objective: it is logged once per pass, the objective
is left flagged, and its version (`updated_at`) is remembered so that later passes evaluate its
chunk guarded at once rather than try it optimistically first (`evaluation_pass.evaluate_ids`).

One memory for every evaluator: an objective whose evaluation failed with an ingested batch
(`inline_evaluation.evaluate_flagged_here`) or in the flagged worker's pass (`flagged_pass`, a chunk of one
included) is remembered here too, so the passes guard its chunk at once, and one that failed in a pass
is not tried again with a batch until its version changes. A chunk of one is never guarded (its
transaction is rolled back whole); it is logged each time the flagged pass tries it.

The memory is bounded (`_FAILED_KEPT`), by one rule whichever evaluator remembers: past the bound the
objectives remembered longest ago are forgotten first (`_keep`). A forgotten one is tried optimistically
once more, fails and is remembered again: a cost of one try, never a wrong outcome.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from slm_measurement.bulk_update import OBJECTIVES

logger = logging.getLogger("slm_measurement.evaluation_pass")

# query_canceled (statement_timeout), lock_not_available (lock_timeout), serialization_failure, deadlock_detected
TRANSIENT_SQLSTATES = frozenset({"57014", "55P03", "40001", "40P01"})
_FAILURES = "evaluation_chunk_failures"  # the key of a session's `ChunkFailures` in `session.info`
_FAILED: dict[str, datetime] = {}  # objective row id -> its version when its evaluation last failed, oldest first
_FAILED_KEPT = 10_000


def transient(error: BaseException) -> bool:
    """Whether the failure is the database's moment rather than an objective's data (see the module)."""
    if isinstance(error, OperationalError):
        return True
    if not isinstance(error, DBAPIError):
        return False
    if error.connection_invalidated:
        return True
    code = getattr(error.orig, "sqlstate", None) or getattr(error.orig, "pgcode", None)
    return code in TRANSIENT_SQLSTATES or "database is locked" in str(error.orig)


@dataclass
class ChunkFailures:
    """The objectives that failed in a chunk's tries, and those whose failure was logged already."""

    failed: set[str] = field(default_factory=set)
    logged: set[str] = field(default_factory=set)

    def attach(self, session: AsyncSession) -> None:
        session.info[_FAILURES] = self


def objective_failed(session: AsyncSession, objective_row_id: str, error: Exception) -> None:
    """An objective's evaluation failed: a transient failure is raised, any other logged (once per chunk)."""
    if transient(error):
        raise error
    failures: ChunkFailures | None = session.info.get(_FAILURES)
    if failures is not None:
        failures.failed.add(objective_row_id)
        if objective_row_id in failures.logged:
            return
        failures.logged.add(objective_row_id)
    logger.error("evaluation of objective %s failed", objective_row_id, exc_info=error)


def failed_version(objective_row_id: str) -> datetime | None:
    """The objective's version (`updated_at`) when its evaluation last failed, if it is remembered."""
    return _FAILED.get(objective_row_id)


def remember_failed(objective_row_id: str, version: datetime) -> None:
    """Remember that the objective's evaluation failed at this version (by a pass or with a batch)."""
    _keep({objective_row_id: version})


def _keep(versions: dict[str, datetime]) -> None:
    """Remember these versions as the newest; past the bound, forget the oldest remembered.

    The one way into the memory, so a batch's failures and a pass's are kept and forgotten alike.
    """
    for row_id, version in versions.items():
        _FAILED.pop(row_id, None)  # a failure again: remembered as the newest
        _FAILED[row_id] = version
    while len(_FAILED) > _FAILED_KEPT:
        del _FAILED[next(iter(_FAILED))]


async def _versions(session: AsyncSession, ids: list[str]) -> dict[str, datetime]:
    rows = await session.execute(select(OBJECTIVES.c.id, OBJECTIVES.c.updated_at).where(OBJECTIVES.c.id.in_(ids)))
    return {row_id: version for row_id, version in rows}


async def failed_lately(session: AsyncSession, objective_row_ids: list[str]) -> bool:
    """Whether one of these objectives failed in an earlier pass and is unchanged since."""
    if not (suspects := [i for i in objective_row_ids if i in _FAILED]):
        return False
    return any(_FAILED.get(row_id) == version for row_id, version in (await _versions(session, suspects)).items())


async def remember(session: AsyncSession, failures: ChunkFailures, evaluated: list[str]) -> None:
    """Remember the version of each objective that failed (read in the transaction that failed it).

    The others of `evaluated` (the chunk's objectives locked) are forgotten: they did not fail this time.
    """
    for row_id in evaluated:
        if row_id not in failures.failed:
            _FAILED.pop(row_id, None)
    if not failures.failed:
        return
    _keep(await _versions(session, sorted(failures.failed)))
