"""The pull worker: every few seconds, pull each series whose next step has closed."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import httpx

from slm_measurement.config import Settings
from slm_measurement.pull import service
from slm_shared.app import ServiceContext

logger = logging.getLogger(__name__)


async def pull_worker(context: ServiceContext) -> None:
    """Pull PromQL series into the rollups forever; a failing source is recorded on its series, never fatal."""
    settings = context.settings
    assert isinstance(settings, Settings)
    lateness = timedelta(seconds=settings.max_lateness_seconds)
    lookback = timedelta(seconds=settings.pull_first_lookback_seconds)
    async with httpx.AsyncClient(timeout=settings.pull_timeout_seconds) as client:
        while True:
            try:
                async with context.db.session() as session:
                    await service.pull_due(session, client, max_lateness=lateness, first_lookback=lookback)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the worker must outlive any single failure
                logger.warning("pull pass failed: %s", exc)
            await asyncio.sleep(settings.pull_interval_seconds)
