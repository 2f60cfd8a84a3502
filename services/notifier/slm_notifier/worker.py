"""The delivery worker: claims due deliveries from the database and sends them concurrently."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from slm_notifier import claims
from slm_notifier.channels import AttemptOutcome, Channel, SafeHttp, TicketStore, build_channels
from slm_notifier.channels.email import smtp_settings
from slm_notifier.compose import AgreementFacts, Composer, LinkSettings
from slm_notifier.config import Settings
from slm_notifier.contacts.book import ContactBook
from slm_notifier.due_timer import Due, DueTimer
from slm_notifier.escalation.worker import contact_book
from slm_notifier.fresh import CLAIM_LEASE, FRESH_JOBS, STALE, FreshJob, fresh_job
from slm_notifier.jobs import Agreements, JobReads, agreement_of
from slm_notifier.messages import Renderer
from slm_notifier.models import PENDING
from slm_notifier.policy import RetryPolicy, next_transition
from slm_notifier.recorder import AttemptRecorder, attempt_record
from slm_notifier.service import DELIVERIES_QUEUED, register_preclaimer
from slm_shared.app import ServiceContext
from slm_shared.db import Database, is_postgres, utcnow
from slm_shared.tasks import checkpoint, stop_tasks, wait_for_event

logger = logging.getLogger(__name__)

PRECLAIMED = "slm_notifier_preclaimed"
PRECLAIMED_COUNTS = "slm_notifier_preclaimed_counts"
# the kinds of due time the worker's timer keeps: a retry this process scheduled; the end of a claim's lease
RETRY = "retry"
LEASE_END = "lease end"


class DeliveryWorker:
    """Sends due deliveries with bounded concurrency; state lives in the database, so restarts lose nothing.

    At most `max_concurrency` attempts run at once and at most `max_per_subscription` to one
    subscription, so a slow receiver holds a few slots, never all of them."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        *,
        contacts: ContactBook | None = None,
        channels: dict[str, Channel] | None = None,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.db = db
        self.settings = settings
        self.http = SafeHttp(
            allow_private_targets=settings.private_targets_allowed, timeout_seconds=settings.attempt_timeout_seconds
        )
        self.channels = channels or build_channels(
            http=self.http, smtp=smtp_settings(settings), tickets=TicketStore(db)
        )
        contacts = contacts or ContactBook.from_settings(db, settings)
        self.composer = Composer(
            renderer=Renderer(),
            contacts=contacts,
            links=LinkSettings(settings.public_url, settings.ack_signing_key, settings.ack_link_ttl_seconds),
        )
        self.policy = RetryPolicy(
            base_seconds=settings.retry_base_seconds,
            max_seconds=settings.retry_max_seconds,
            max_attempts=settings.max_attempts,
            retry_after_max_seconds=settings.retry_after_max_seconds,
        )
        self.rand = rand
        self.recorder = AttemptRecorder(db)
        self.reads = JobReads(db, self.channels)
        self.sent = 0
        self._wake = asyncio.Event()
        self._inflight: dict[asyncio.Task[None], str] = {}
        self._per_subscription: Counter[str] = Counter()
        self._claim_group = max(1, settings.max_concurrency // 4)
        self._held: dict[str, str] = {}  # delivery id -> claim token, while its attempt runs
        self._preclaimed: list[tuple[str, Any, list[str]]] = []  # (token, lease end, ids) committed, not started
        self._in_hand: list[FreshJob] = []  # committed fresh jobs left to the loop (answers were being stored)
        self._reserved: Counter[str] = Counter()  # subscription -> deliveries in _preclaimed and _in_hand
        # whether due deliveries may be waiting unclaimed (left by a fan-out, a full or limited claim round, a
        # release): only then does a finished attempt start a claim round; otherwise the poll looks
        self._maybe_waiting = True
        self._lease_end_due = False  # a claim's lease ended since the last round: a round reads, then claims if due
        # a retry of its own fell due since the last round began: a round claims (kept apart from `_maybe_waiting`,
        # which a round under way sets from what it found when it ends)
        self._retry_due = False
        self._queued = 0  # commits that queued deliveries without claiming them
        self._timer = DueTimer(self._timer_due)  # its retries, others' claims ending: one timer for the earliest

    def _after_commit(self, session: AsyncSession) -> None:
        preclaimed = session.info.pop(PRECLAIMED, None)
        counts: Counter[str] = session.info.pop(PRECLAIMED_COUNTS, None) or Counter()
        fresh: list[FreshJob] = session.info.pop(FRESH_JOBS, None) or []
        stale: set[str] = session.info.pop(STALE, None) or set()  # subscription changed since read: read back
        in_hand = [job for job in fresh if job.id not in stale]
        # answers already received are stored before anything new is sent (as the loop does before it claims):
        # while some are being written the loop starts these once they are, still without a read-back
        later = in_hand if self.recorder.writing() else []
        # else started here, in the committing task: no wake-up of the loop, no read-back, no claim round
        started = [job for job in in_hand if not later and self._launch(job, None, read_agreement=True)]
        counts.subtract(job.subscription_id for job in started)
        # stale, or past a limit (two transactions pre-claimed at once): read back (and released) by the loop
        taken = {job.id for job in (*started, *later)}
        ids = [*preclaimed[2], *(job.id for job in fresh if job.id not in taken)] if preclaimed else []
        if ids or later:
            self._preclaimed.append((preclaimed[0], preclaimed[1], ids))
            self._in_hand.extend(later)
            self._reserved.update(+counts)
        if session.info.pop(DELIVERIES_QUEUED, False):
            self._queued += 1
            self._maybe_waiting = True
            self._wake.set()
        elif ids or later:
            self._wake.set()

    def preclaim(
        self, session: AsyncSession, rows: list[dict[str, Any]], subscriptions: dict[str, Any] | None = None
    ) -> None:
        """Claim fresh delivery rows in the transaction that writes them, as far as there is room.

        Once it commits they are sent straight away (no claim transaction of their own); if it rolls
        back, nothing was claimed. Rows left unclaimed are claimed by the next round as before. With
        their `subscriptions` in hand, rows written in the outermost transaction are sent from what is in
        hand when it commits; rows written in a savepoint (which may still roll back) are read back then.
        """
        pending: Counter[str] = session.info.setdefault(PRECLAIMED_COUNTS, Counter())
        token, lease_until, ids = session.info.setdefault(
            PRECLAIMED,
            (str(uuid.uuid4()), utcnow() + timedelta(seconds=self.settings.claim_lease_seconds), []),
        )
        fresh: list[FreshJob] = session.info.setdefault(FRESH_JOBS, [])
        session.info[CLAIM_LEASE] = self.settings.claim_lease_seconds  # from the insert (`fresh.before_commit`)
        in_hand = subscriptions if subscriptions is not None and not session.in_nested_transaction() else None
        cap = self.settings.max_per_subscription
        for row in rows:
            subscription_id = row["subscription_id"]
            if len(self._inflight) + self._reserved.total() + pending.total() >= self.settings.max_concurrency:
                return
            taken = self._per_subscription[subscription_id] + self._reserved[subscription_id]
            if taken + pending[subscription_id] >= cap:
                continue
            row["claimed_until"], row["claim_token"] = lease_until, token
            pending[subscription_id] += 1
            if in_hand is not None and subscription_id in in_hand:
                fresh.append(fresh_job(row, in_hand[subscription_id]))
                self.recorder.ride_along_at_commit(session.sync_session)  # answers unwritten go with it
            else:
                ids.append(row["id"])

    async def run(self) -> None:
        """Claim and send until cancelled; in-flight attempts are cancelled with it."""
        self.db.after_commit.append(self._after_commit)
        register_preclaimer(self.db.engine, self)
        renewing = asyncio.create_task(self._renew_leases(), name="delivery-lease-renewal")
        woken = False  # by a commit or a finished attempt (work is likely); False: the poll interval ran out
        try:
            while True:
                checkpoint()
                self._wake.clear()
                if self._preclaimed:
                    try:
                        await (
                            self.recorder.flushed()
                        )  # as below: answers in hand are stored before anything new is sent
                        await self.start_preclaimed()
                    except Exception as exc:  # noqa: BLE001 - they stay claimed; claimed again once the lease ends
                        checkpoint()
                        logger.warning("starting fresh deliveries failed: %s", exc)
                free = self.settings.max_concurrency - len(self._inflight) - self._reserved.total()
                claimed = 0
                # claim in groups (a quarter of the slots at least) rather than one row per finished attempt
                if free > 0 and (free >= self._claim_group or not self._inflight):
                    try:
                        # answers already received are stored before anything new is claimed or sent,
                        # so a crash re-sends as few answered webhooks as it can
                        await self.recorder.flushed()
                        claimed = await self.dispatch_due(
                            free, look_first=not woken or not (self._maybe_waiting or self._retry_due)
                        )
                    except Exception as exc:  # noqa: BLE001 - the worker outlives database hiccups
                        checkpoint()
                        logger.warning("claiming deliveries failed: %s", exc)
                if free > 0 and claimed == free:
                    woken = True  # more may be due at once
                    continue
                woken = await wait_for_event(self._wake, self.settings.delivery_poll_seconds)
        finally:
            self._timer.close()  # no timer is set once the loop has ended
            register_preclaimer(self.db.engine, None)
            self.db.after_commit.remove(self._after_commit)
            await stop_tasks([renewing, *self._inflight], grace_seconds=2.0)
            await self.recorder.close(within=2.0)  # answered attempts are recorded before the database closes
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2.0):
                    for channel in self.channels.values():
                        await channel.close()
                    await self.http.close()

    async def dispatch_due(self, limit: int, *, look_first: bool = False) -> int:
        """Claim up to `limit` due deliveries and start an attempt for each; returns how many.

        `look_first` (a poll, or a wake-up with nothing known to wait): with nothing in flight, read before claiming."""
        now = utcnow()
        token = str(uuid.uuid4())
        lease_until = now + timedelta(seconds=self.settings.claim_lease_seconds)
        cap = self.settings.max_per_subscription
        busy = {sub for sub, count in (self._per_subscription + self._reserved).items() if count >= cap}
        queued, self._maybe_waiting = self._queued, True  # until this round shows otherwise
        self._lease_end_due = self._retry_due = False  # this round reads (or claims) what fell due before it
        if look_first and not self._inflight:
            due, lease_end = await self.reads.due_or_next_lease_end(now)
            if not due:
                self._maybe_waiting = queued != self._queued
                # claimed by another worker (or one that crashed): look when it ends, even if it did during the
                # read (nothing in flight starts a round)
                if lease_end is not None:
                    self._timer.at(lease_end, LEASE_END)
                return 0  # an idle poll: looked for without taking a write transaction (SQLite's write turn)
        if is_postgres(self.db.engine):
            # the claimed rows come back from the claim itself (a round trip and a read transaction fewer)
            async with self.db.session() as session:
                jobs = await claims.claim_due_jobs(
                    session, now=now, limit=limit, lease_until=lease_until, token=token, busy_subscriptions=busy
                )
            self._maybe_waiting = bool(busy) or len(jobs) >= limit or queued != self._queued
            if not jobs:
                return 0
            return await self._start(jobs, await self.reads.agreements(jobs))
        async with self.db.session() as session:
            ids = await claims.claim_due(
                session, now=now, limit=limit, lease_until=lease_until, token=token, busy_subscriptions=busy
            )
        self._maybe_waiting = bool(busy) or len(ids) >= limit or queued != self._queued
        if not ids:
            return 0
        # SQLite: read once the claim has committed, outside the write transaction (which ends sooner for it)
        jobs, agreements = await self.reads.jobs(ids, {token})
        return await self._start(jobs, agreements)

    async def start_preclaimed(self) -> int:
        """Start the deliveries claimed when they were written."""
        batches, self._preclaimed = self._preclaimed, []
        in_hand, self._in_hand = self._in_hand, []
        self._reserved.clear()
        started = 0
        for job in in_hand:
            if self._launch(job, None, read_agreement=True):
                started += 1
            else:
                await self._release(job)
        tokens = {token for token, _, _ in batches}
        ids = [delivery_id for _, _, batch in batches for delivery_id in batch]
        if not ids:
            return started
        jobs, agreements = await self.reads.jobs(ids, tokens)
        return started + await self._start(jobs, agreements)

    async def _start(self, jobs: list[Row[Any]], agreements: Agreements) -> int:
        started = 0
        for job in jobs:
            if not self._launch(job, agreement_of(agreements, job)):
                # claimed beside others of its subscription (or by two transactions at once past the
                # worker's limit): leave it for the next round
                await self._release(job)
                continue
            started += 1
        return started

    def _launch(self, job: Any, agreement: AgreementFacts | None, *, read_agreement: bool = False) -> bool:
        """Start the attempt of a claimed job unless its subscription or the worker is at its limit."""
        if (
            self._per_subscription[job.subscription_id] >= self.settings.max_per_subscription
            or len(self._inflight) >= self.settings.max_concurrency
        ):
            return False
        task = asyncio.create_task(
            self._attempt(job, agreement, read_agreement=read_agreement), name=f"delivery-{job.id}"
        )
        self._inflight[task] = job.subscription_id
        self._held[job.id] = job.claim_token
        self._per_subscription[job.subscription_id] += 1
        task.add_done_callback(self._finished)
        return True

    async def _renew_leases(self) -> None:
        """Keep the claims of running attempts reserved; a crashed worker's claims end within one lease."""
        lease = self.settings.claim_lease_seconds
        while True:
            await asyncio.sleep(lease / 3)
            held = list(self._held.items())
            if not held:
                continue
            try:
                async with self.db.session() as session:
                    await claims.renew_claims(session, held=held, lease_until=utcnow() + timedelta(seconds=lease))
            except Exception as exc:  # noqa: BLE001 - the next round tries again
                checkpoint()
                logger.warning("renewing delivery claims failed: %s", exc)

    async def _release(self, job: Any) -> None:
        self._maybe_waiting = True
        async with self.db.session() as session:
            await claims.release_claim(session, delivery_id=job.id, token=job.claim_token)

    def _finished(self, task: asyncio.Task[None]) -> None:
        subscription_id = self._inflight.pop(task, None)
        if subscription_id is not None:
            self._per_subscription[subscription_id] -= 1
            if self._per_subscription[subscription_id] <= 0:
                del self._per_subscription[subscription_id]
        if self._maybe_waiting or self._lease_end_due or self._retry_due:  # a slot freed for what waits (else the poll)
            self._wake.set()

    async def _attempt(self, job: Any, agreement: AgreementFacts | None, *, read_agreement: bool = False) -> None:
        try:
            if read_agreement:  # a fresh job: its agreement is read here, and only for channels that need it
                agreement = agreement_of(await self.reads.agreements([job]), job)
            attempted_at = utcnow()
            outcome = await self._send(job, agreement)
            await self._record(job, outcome, attempted_at)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("delivery %s could not be completed", job.id)
        finally:
            self._held.pop(job.id, None)

    async def _send(self, job: Row[Any], agreement: AgreementFacts | None) -> AttemptOutcome:
        if job.channel is None:
            return AttemptOutcome(succeeded=False, error="subscription deleted", permanent=True)
        if not job.enabled:
            return AttemptOutcome(succeeded=False, error="subscription disabled", permanent=True)
        channel = self.channels.get(job.channel)
        if channel is None:
            return AttemptOutcome(succeeded=False, error=f"no channel {job.channel!r}", permanent=True)
        try:
            message = await self.composer.compose(job, channel, agreement)
        except Exception as exc:
            logger.exception("composing delivery %s failed", job.id)
            return AttemptOutcome(succeeded=False, error=f"composing the message failed: {type(exc).__name__}: {exc}")
        return await channel.send(message)

    async def _record(self, job: Row[Any], outcome: AttemptOutcome, attempted_at: Any) -> None:
        now = utcnow()
        transition = next_transition(
            self.policy, outcome, attempts_in_round=job.round_attempts + 1, now=now, rand=self.rand
        )
        await self.recorder.record(attempt_record(job, outcome, transition, attempted_at=attempted_at, now=now))
        if outcome.succeeded:
            self.sent += 1
        elif transition.status == PENDING and transition.next_attempt_at is not None:  # a retry
            if transition.next_attempt_at > utcnow():
                self._timer.at(transition.next_attempt_at, RETRY)  # a claim round when due, not at the next poll
            else:
                self._retry_due = True  # due now: the attempt's end starts a claim round

    def _timer_due(self, due: list[Due]) -> None:
        if any(kind == RETRY for _, kind in due):
            self._retry_due = True
        else:  # LEASE_END, perhaps renewed: read before claiming; if the worker is full, once a slot frees
            self._lease_end_due = True
        self._wake.set()


async def delivery_worker(context: ServiceContext) -> None:
    """The ServiceDefinition worker: runs a DeliveryWorker for the service's lifetime."""
    worker = DeliveryWorker(context.db, cast(Settings, context.settings), contacts=contact_book(context))
    context.extras["delivery_worker"] = worker
    await worker.run()
