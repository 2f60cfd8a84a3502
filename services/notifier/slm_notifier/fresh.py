"""Deliveries claimed in the transaction that writes them, in hand as jobs: sent once it commits, unread.

The fan-out that writes a delivery has its row and its subscription (read in the same transaction), which
is all an attempt needs; the job is built from them rather than read back after the commit. The
subscription's secrets are decrypted only when the attempt signs, not for every subscription fan-out reads.

What the fan-out read of a subscription may be out of date by the commit (a consumer batch reads them once
per transaction): a change committed in between (a PATCH, a delete, a secret rotation, an OpenSLO removal, the
recorder disabling it after a 410) bumps its version or removes it. Just before the commit the subscriptions
of the fresh jobs are read again; a job whose subscription changed or is gone is read back after the commit
like any other claimed delivery (so it is sent with the new URL or secret, or fails as disabled or deleted).
A subscription disabled in the commit itself, by an answer riding along in it (`recorder.ride_along`), makes
its fresh jobs stale too (`mark_disabled`), on either database: they fail as disabled, none is sent.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Row, Select
from sqlalchemy.orm import Session

from slm_notifier import repository
from slm_notifier.crypto import active_keyring
from slm_shared.db import utcnow

FRESH_JOBS = "slm_notifier_fresh_jobs"  # session.info: the transaction's fresh jobs
STALE = "slm_notifier_fresh_stale"  # session.info: ids of fresh jobs whose subscription changed before the commit
CLAIM_LEASE = "slm_notifier_fresh_claim_lease"  # session.info: the lease (seconds) of rows claimed when written


@dataclass(frozen=True)
class FreshJob:
    """A fresh delivery with what it needs of its subscription: the columns `claims.jobs_statement` reads."""

    id: str
    tenant: str
    subscription_id: str
    event_id: str
    event_type: str
    event_time: datetime
    payload: dict[str, Any]
    escalation_level: int
    notification_id: str | None
    round_attempts: int
    attempt_count: int
    claim_token: str
    channel: str
    target: dict[str, Any]
    language: str
    secret_token: str
    previous_secret_token: str | None
    previous_secret_expires_at: datetime | None
    subscription_version: int
    # fan-out reads enabled subscriptions only, and one disabled (or changed) before or in the commit makes the
    # job stale (`mark_stale`, `mark_disabled`): it is read back after the commit instead of being sent from here
    enabled: bool = True

    @property
    def secret(self) -> str:
        return active_keyring().decrypt(self.secret_token)

    @property
    def previous_secret(self) -> str | None:
        return None if self.previous_secret_token is None else active_keyring().decrypt(self.previous_secret_token)


def fresh_job(row: dict[str, Any], subscription: Any) -> FreshJob:
    """The job of a delivery row just claimed, with its subscription as `repository.enabled_subscriptions` reads it.

    The event time is kept in UTC, as the database returns it, so the first attempt's body is the retries' body.
    """
    return FreshJob(
        id=row["id"],
        tenant=row["tenant"],
        subscription_id=row["subscription_id"],
        event_id=row["event_id"],
        event_type=row["event_type"],
        event_time=row["event_time"].astimezone(UTC),
        payload=row["payload"],
        escalation_level=row["escalation_level"],
        notification_id=row["notification_id"],
        round_attempts=row["round_attempts"],
        attempt_count=row["attempt_count"],
        claim_token=row["claim_token"],
        channel=subscription.channel,
        target=subscription.target,
        language=subscription.language,
        secret_token=subscription.secret_token,
        previous_secret_token=subscription.previous_secret_token,
        previous_secret_expires_at=subscription.previous_secret_expires_at,
        subscription_version=subscription.version,
    )


def before_commit(session: Session, rows: list[dict[str, Any]]) -> bool:
    """As the outermost transaction commits and writes its fresh deliveries `rows`: their claims' lease starts
    now (not when the batch's first event was fanned out), and the fresh jobs' subscriptions are read again.

    Returns whether `rows` were inserted here: on PostgreSQL the insert returns each row's subscription as it
    is now (`repository.INSERT_RETURNING_SUBSCRIPTIONS`), so the re-read costs no round trip."""
    stamp_leases(session, rows)
    statement = recheck_statement(session)
    if statement is None:
        return False
    jobs: list[FreshJob] = session.info.get(FRESH_JOBS) or []
    current = session.execute(repository.INSERT_RETURNING_SUBSCRIPTIONS, rows).all() if rows else []
    if not {job.subscription_id for job in jobs} <= {row.id for row in current}:
        current = session.execute(statement).all()  # rows written earlier (`queued.write_queued`): read them
    mark_stale(session, current)
    return bool(rows)


def stamp_leases(session: Session, rows: list[dict[str, Any]]) -> None:
    """Start the lease of the rows claimed when they were written now, as they are inserted."""
    lease = session.info.get(CLAIM_LEASE)
    if lease is None:
        return
    claimed_until = utcnow() + timedelta(seconds=lease)
    for row in rows:
        if row.get("claim_token") is not None:
            row["claimed_until"] = claimed_until


def recheck_statement(session: Session) -> Select[Any] | None:
    """The read of (id, version, enabled) of the fresh jobs' subscriptions; None when there is nothing to check.

    Only on PostgreSQL: on SQLite the fan-out's transaction holds the write lock from its first statement
    (BEGIN IMMEDIATE), so no change can commit between its read and its commit.

    A change committed after this read and before the commit (READ COMMITTED: this statement sees what was
    committed when it ran) is not seen. The read-back path has the same window: it reads the delivery and its
    subscription after the commit and then sends it, and a change committed between that read and the send is
    not seen either. Here the window also spans the commit's round trip, no longer than a read-back's; a
    change the attempt does miss is in force for the retries, which read the subscription again.
    """
    jobs: list[FreshJob] | None = session.info.get(FRESH_JOBS)
    if not jobs or session.get_bind().dialect.name != "postgresql":
        return None
    return repository.subscription_versions_statement({job.subscription_id for job in jobs})


def mark_stale(session: Session, subscriptions: Sequence[Row[Any]]) -> None:
    """Mark (`STALE`) the fresh jobs whose subscription changed, was disabled or was deleted since fan-out read it
    (`subscriptions`: as `recheck_statement` reads them)."""
    jobs: list[FreshJob] = session.info.get(FRESH_JOBS) or []
    now = {row.id: row for row in subscriptions}
    session.info.setdefault(STALE, set()).update(
        job.id
        for job in jobs
        if (current := now.get(job.subscription_id)) is None
        or not current.enabled
        or current.version != job.subscription_version
    )


def mark_disabled(session: Session, subscription_ids: Collection[str]) -> None:
    """Mark (`STALE`) the fresh jobs to subscriptions this transaction disables as it commits (answers riding
    along in it, `recorder.ride_along`): read back after the commit, they fail as disabled, as a job read
    back after its subscription was disabled does (`worker._send`); no webhook leaves for them.

    Whether or not the re-read (`before_commit`) ran before the disabling statement, and on SQLite, where there
    is no re-read: on PostgreSQL a re-read after it finds the subscription disabled all the same."""
    if not subscription_ids:
        return
    jobs: list[FreshJob] = session.info.get(FRESH_JOBS) or []
    session.info.setdefault(STALE, set()).update(job.id for job in jobs if job.subscription_id in subscription_ids)
