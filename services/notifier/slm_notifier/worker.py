"""The delivery worker: claims due deliveries from the database and sends them concurrently."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from slm_notifier import repository
from slm_notifier.channels import AttemptOutcome, Channel, OutgoingMessage, build_channels
from slm_notifier.config import Settings
from slm_notifier.models import PENDING
from slm_notifier.policy import RetryPolicy, next_transition
from slm_notifier.service import DELIVERIES_QUEUED
from slm_notifier.signing import secrets_in_use
from slm_shared.app import ServiceContext
from slm_shared.db import Database, utcnow

logger = logging.getLogger(__name__)


class DeliveryWorker:
    """Sends due deliveries with bounded concurrency; state lives in the database, so restarts lose nothing."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        *,
        channels: dict[str, Channel] | None = None,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.db = db
        self.settings = settings
        self.channels = channels or build_channels(
            allow_private_targets=settings.private_targets_allowed,
            timeout_seconds=settings.attempt_timeout_seconds,
        )
        self.policy = RetryPolicy(
            base_seconds=settings.retry_base_seconds,
            max_seconds=settings.retry_max_seconds,
            max_attempts=settings.max_attempts,
            retry_after_max_seconds=settings.retry_after_max_seconds,
        )
        self.rand = rand
        self.sent = 0
        self._wake = asyncio.Event()
        self._inflight: set[asyncio.Task[None]] = set()

    def _after_commit(self, session: AsyncSession) -> None:
        if session.info.pop(DELIVERIES_QUEUED, False):
            self._wake.set()

    async def run(self) -> None:
        """Claim and send until cancelled; in-flight attempts are cancelled with it."""
        self.db.after_commit.append(self._after_commit)
        try:
            while True:
                self._wake.clear()
                free = self.settings.max_concurrency - len(self._inflight)
                claimed = 0
                if free > 0:
                    try:
                        claimed = await self.dispatch_due(free)
                    except Exception as exc:  # noqa: BLE001 - the worker outlives database hiccups
                        logger.warning("claiming deliveries failed: %s", exc)
                if free > 0 and claimed == free:
                    continue
                # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancellation
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.settings.delivery_poll_seconds):
                        await self._wake.wait()
        finally:
            self.db.after_commit.remove(self._after_commit)
            for task in self._inflight:
                task.cancel()
            await asyncio.gather(*self._inflight, return_exceptions=True)
            for channel in self.channels.values():
                await channel.close()

    async def dispatch_due(self, limit: int) -> int:
        """Claim up to `limit` due deliveries and start an attempt for each; returns how many."""
        now = utcnow()
        token = str(uuid.uuid4())
        lease_until = now + timedelta(seconds=self.settings.claim_lease_seconds)
        async with self.db.session() as session:
            ids = await repository.claim_due(session, now=now, limit=limit, lease_until=lease_until, token=token)
            jobs = await repository.load_jobs(session, ids) if ids else []
        for job in jobs:
            task = asyncio.create_task(self._attempt(job), name=f"delivery-{job.id}")
            self._inflight.add(task)
            task.add_done_callback(self._finished)
        return len(jobs)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._inflight.discard(task)
        self._wake.set()

    async def _attempt(self, job: Row[Any]) -> None:
        try:
            attempted_at = utcnow()
            outcome = await self._send(job)
            await self._record(job, outcome, attempted_at)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("delivery %s could not be completed", job.id)

    async def _send(self, job: Row[Any]) -> AttemptOutcome:
        if job.channel is None:
            return AttemptOutcome(succeeded=False, error="subscription deleted", permanent=True)
        if not job.enabled:
            return AttemptOutcome(succeeded=False, error="subscription disabled", permanent=True)
        channel = self.channels.get(job.channel)
        if channel is None:
            return AttemptOutcome(succeeded=False, error=f"no channel {job.channel!r}", permanent=True)
        message = OutgoingMessage(
            delivery_id=job.id,
            event_id=job.event_id,
            event_type=job.event_type,
            event_time=job.event_time,
            tenant=job.tenant,
            payload=job.payload,
            target=job.target,
            secrets=secrets_in_use(job.secret, job.previous_secret, job.previous_secret_expires_at, utcnow()),
            language=job.language,
        )
        return await channel.send(message)

    async def _record(self, job: Row[Any], outcome: AttemptOutcome, attempted_at: Any) -> None:
        now = utcnow()
        attempts_in_round = job.round_attempts + 1
        transition = next_transition(self.policy, outcome, attempts_in_round=attempts_in_round, now=now, rand=self.rand)
        async with self.db.session() as session:
            await repository.record_attempt(
                session,
                {
                    "delivery_id": job.id,
                    "tenant": job.tenant,
                    "number": job.attempt_count + 1,
                    "attempted_at": attempted_at,
                    "succeeded": outcome.succeeded,
                    "status_code": outcome.status_code,
                    "error": (outcome.error or None) and outcome.error[:2000],
                    "duration_ms": outcome.duration_ms,
                    "next_attempt_at": transition.next_attempt_at,
                },
            )
            changed = await repository.finish_attempt(
                session,
                delivery_id=job.id,
                token=job.claim_token,
                values={
                    "status": transition.status,
                    "attempt_count": job.attempt_count + 1,
                    "round_attempts": attempts_in_round,
                    "next_attempt_at": transition.next_attempt_at,
                    "last_status_code": outcome.status_code,
                    "last_error": (outcome.error or None) and outcome.error[:2000],
                    "updated_at": now,
                    "completed_at": None if transition.status == PENDING else now,
                },
            )
            if not changed:
                logger.warning("delivery %s was claimed again before its attempt was recorded", job.id)
            if outcome.disable_subscription:
                await repository.disable_subscription(
                    session, subscription_id=job.subscription_id, reason=outcome.error or "disabled", now=now
                )
        if outcome.succeeded:
            self.sent += 1


async def delivery_worker(context: ServiceContext) -> None:
    """The ServiceDefinition worker: runs a DeliveryWorker for the service's lifetime."""
    worker = DeliveryWorker(context.db, cast(Settings, context.settings))
    context.extras["delivery_worker"] = worker
    await worker.run()
