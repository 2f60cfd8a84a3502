"""Deliveries claimed in the transaction that writes them, in hand as jobs: sent once it commits, unread.

The fan-out that writes a delivery has its row and its subscription (read in the same transaction), which
is all an attempt needs; the job is built from them rather than read back after the commit. The
subscription's secrets are decrypted only when the attempt signs, not for every subscription fan-out reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from slm_notifier.crypto import active_keyring


@dataclass(frozen=True)
class FreshJob:
    """A fresh delivery with what it needs of its subscription: the columns `repository.jobs_statement` reads."""

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
    enabled: bool = True  # fan-out reads enabled subscriptions only

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
    )
