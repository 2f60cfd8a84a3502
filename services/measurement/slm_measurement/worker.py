"""The evaluation worker: prompt after ingestion, periodic because windows move."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from slm_measurement.config import Settings
from slm_measurement.flagged_pass import evaluate_flagged
from slm_measurement.service import apply_due_versions, evaluate_due, next_evaluation_at
from slm_measurement.wake_keys import EVALUATION_PENDING
from slm_shared.app import ServiceContext
from slm_shared.db import utcnow
from slm_shared.tasks import checkpoint, pause, sleep_until_due, wait_for_event

logger = logging.getLogger(__name__)


async def evaluation_worker(context: ServiceContext) -> None:
    """Apply due agreement versions and evaluate due objectives forever; woken at once by ingestion."""
    settings = context.settings
    assert isinstance(settings, Settings)
    wake = asyncio.Event()

    def _after_commit(session: AsyncSession) -> None:
        if session.info.pop(EVALUATION_PENDING, False):
            wake.set()

    context.db.after_commit.append(_after_commit)
    interval = timedelta(seconds=settings.evaluation_interval_seconds)
    backoff = 0.0
    versions_checked = -math.inf
    version_due: datetime | None = None  # when the next pending version takes effect: the sleep ends then
    while True:
        checkpoint()
        wake.clear()
        try:
            # What ingestion flagged first, in a pass of its own: a breach is recorded right after the
            # commit that woke us, before the versions step and the periodic re-evaluation of stale objectives.
            await evaluate_flagged(context.db, limit=settings.evaluation_batch_size)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the full pass below retries them with backoff
            checkpoint()
            logger.warning("evaluating flagged objectives failed (%s)", exc)
        if time.monotonic() - versions_checked >= settings.version_check_seconds or (
            version_due is not None and utcnow() >= version_due
        ):
            version_due = None
            versions_checked = time.monotonic()
            try:
                await apply_due_versions(context.db)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - evaluation goes on whatever the versions step did
                checkpoint()
                logger.warning("applying due agreement versions failed (%s); evaluation goes on", exc)
        try:
            evaluated = await evaluate_due(
                context.db, interval=interval, limit=settings.evaluation_batch_size, yield_to=wake
            )
            backoff = 0.0
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the worker must outlive any single failure
            checkpoint()
            backoff = min(max(backoff * 2, 0.5), 30.0)
            logger.warning("evaluation pass failed (%s); retrying in %.1fs", exc, backoff)
            await pause(backoff)
            continue
        if evaluated >= settings.evaluation_batch_size:
            continue
        # Asleep until the next objective falls due or the next pending version takes effect (read once), woken
        # at once by this process's commits that flag objectives (also one during the pass, which then stopped
        # early); `evaluation_poll_seconds` bounds the sleep, for objectives other processes flagged, versions
        # they stored, those held back after a failure and objectives that end.
        try:
            due, version_due = await next_evaluation_at(context.db, interval=interval)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the bound still holds
            checkpoint()
            logger.warning("reading the next evaluation time failed (%s)", exc)
            due = version_due = None
        soonest = min((d for d in (due, version_due) if d is not None), default=None)
        left = None if soonest is None else (soonest - utcnow()).total_seconds()
        await wait_for_event(wake, sleep_until_due(left, bound=settings.evaluation_poll_seconds))
