"""Notifier tables: subscriptions, deliveries with their attempts, and an agreements read model."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, Integer, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from slm_notifier.crypto import EncryptedJSON, EncryptedText
from slm_shared.db import UTCDateTime, utcnow
from slm_shared.web.bounds import ACTOR_MAX_LENGTH

BigIntPK = BigInteger().with_variant(Integer(), "sqlite")

PENDING, SUCCEEDED, FAILED, DEAD = "pending", "succeeded", "failed", "dead"
SUPERSEDED = "superseded"  # not sent: a newer event for the same alert was sent (or is being sent) first
OPEN, ACKNOWLEDGED, RESOLVED, EXHAUSTED = "open", "acknowledged", "resolved", "exhausted"
DELIVERY_STATUSES = (PENDING, SUCCEEDED, FAILED, DEAD, SUPERSEDED)


def new_id() -> str:
    return str(uuid.uuid4())


class Subscription(SQLModel, table=True):
    """Who hears about which events, through which channel and target."""

    __tablename__ = "subscriptions"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    tenant: str = Field(max_length=64, index=True)
    name: str = Field(max_length=200)
    event_types: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    channel: str = Field(default="webhook", max_length=32)
    # Targets hold credentials (ITSM passwords and keys, chat webhook URLs): encrypted whole.
    target: dict[str, Any] = Field(default_factory=dict, sa_column=Column(EncryptedJSON, nullable=False))
    filters: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    language: str = Field(default="en", max_length=8)
    enabled: bool = True
    escalation_seconds: int | None = None
    disabled_reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    secret: str = Field(sa_column=Column(EncryptedText, nullable=False))
    previous_secret: str | None = Field(default=None, sa_column=Column(EncryptedText, nullable=True))
    previous_secret_expires_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    version: int = 1
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    # the time of the OpenSLO apply that last set it (its event's time), so an older apply changes nothing
    applied_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))


class Delivery(SQLModel, table=True):
    """One event for one subscription; its id is the `webhook-id`, stable across retries."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint(
            "event_id", "subscription_id", "escalation_level", name="uq_deliveries_event_subscription_level"
        ),
        Index("ix_deliveries_due", "status", "next_attempt_at"),
        Index("ix_deliveries_tenant_created", "tenant", "created_at"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    tenant: str = Field(max_length=64)
    subscription_id: str = Field(max_length=36, index=True)
    event_id: str = Field(max_length=64)
    event_type: str = Field(max_length=255)
    event_time: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    escalation_level: int = 1
    notification_id: str | None = Field(default=None, max_length=36, index=True)
    status: str = Field(default=PENDING, max_length=16)
    attempt_count: int = 0
    round_attempts: int = 0
    next_attempt_at: datetime | None = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=True))
    claimed_until: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    claim_token: str | None = Field(default=None, max_length=36)
    last_status_code: int | None = None
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    completed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))


class DeliveryAttempt(SQLModel, table=True):
    """One try at sending a delivery: when, what came back, how long it took."""

    __tablename__ = "delivery_attempts"

    id: int | None = Field(default=None, sa_column=Column(BigIntPK, primary_key=True, autoincrement=True))
    delivery_id: str = Field(foreign_key="deliveries.id", max_length=36, index=True)
    tenant: str = Field(max_length=64)
    number: int
    attempted_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    succeeded: bool = False
    status_code: int | None = None
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    duration_ms: int = 0
    next_attempt_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))


class AgreementView(SQLModel, table=True):
    """What the notifier knows of an active agreement, from `agreement.activated` events."""

    __tablename__ = "agreements_view"
    __table_args__ = (UniqueConstraint("tenant", "agreement_id", name="uq_agreements_view_tenant_agreement"),)

    id: int | None = Field(default=None, sa_column=Column(BigIntPK, primary_key=True, autoincrement=True))
    tenant: str = Field(max_length=64)
    agreement_id: str = Field(max_length=64)
    version: int
    kind: str = Field(max_length=16)
    name: str = Field(max_length=200)
    service_key: str = Field(max_length=64)
    provider_party_id: str | None = Field(default=None, max_length=64)
    consumer_party_id: str | None = Field(default=None, max_length=64)
    escalation_seconds: int | None = None
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))


class ObjectiveStatusSeen(SQLModel, table=True):
    """The latest status change applied per objective: one observed earlier that arrives later is not told."""

    __tablename__ = "objective_status_seen"
    __table_args__ = (
        UniqueConstraint("tenant", "agreement_id", "objective_id", name="uq_objective_status_seen_objective"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigIntPK, primary_key=True, autoincrement=True))
    tenant: str = Field(max_length=64)
    agreement_id: str = Field(max_length=64)
    objective_id: str = Field(max_length=64)
    status: str = Field(max_length=16)
    observed_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class PartyView(SQLModel, table=True):
    """A party's contacts and escalation levels, from party events or the agreements API."""

    __tablename__ = "parties_view"
    __table_args__ = (UniqueConstraint("tenant", "party_id", name="uq_parties_view_tenant_party"),)

    id: int | None = Field(default=None, sa_column=Column(BigIntPK, primary_key=True, autoincrement=True))
    tenant: str = Field(max_length=64)
    party_id: str = Field(max_length=64)
    name: str = Field(default="", max_length=200)
    contacts: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    escalation_seconds: int | None = None
    version: int = 0
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))


class Notification(SQLModel, table=True):
    """A breach told to a subscription's contacts, escalated level by level until acknowledged; or an overdue
    action's chase (`action_id` set), which reminds until the action is done or cancelled."""

    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("event_id", "subscription_id", name="uq_notifications_event_subscription"),
        Index("ix_notifications_due", "state", "escalate_at"),
        Index("ix_notifications_correlation", "tenant", "agreement_id", "objective_id"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    tenant: str = Field(max_length=64)
    subscription_id: str = Field(max_length=36)
    event_id: str = Field(max_length=64)
    event_type: str = Field(max_length=255)
    agreement_id: str | None = Field(default=None, max_length=64)
    objective_id: str | None = Field(default=None, max_length=64)
    party_id: str | None = Field(default=None, max_length=64)
    consumer_party_id: str | None = Field(default=None, max_length=64)
    level: int = 1
    escalation_seconds: int | None = None
    state: str = Field(default=OPEN, max_length=16)
    escalate_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    acknowledged_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    acknowledged_by: str | None = Field(default=None, max_length=ACTOR_MAX_LENGTH)
    escalation_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    lookup_failures: int = 0
    action_id: str | None = Field(default=None, max_length=64, index=True)
    reminders: int = 0
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))


class ExternalTicket(SQLModel, table=True):
    """The ITSM record (incident, request, alert) a correlation key opened, so recovery closes that one."""

    __tablename__ = "external_tickets"
    __table_args__ = (Index("ix_external_tickets_key", "subscription_id", "correlation_key", "state"),)

    id: int | None = Field(default=None, sa_column=Column(BigIntPK, primary_key=True, autoincrement=True))
    tenant: str = Field(max_length=64)
    subscription_id: str = Field(max_length=36)
    system: str = Field(max_length=32)
    correlation_key: str = Field(max_length=200)
    external_id: str = Field(max_length=200)
    external_key: str | None = Field(default=None, max_length=200)
    state: str = Field(default=OPEN, max_length=16)
    # A change request's status as last reported, and the action and change request it was raised for.
    external_status: str | None = Field(default=None, max_length=32)
    context: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    # Set for records that must exist once (a change per action and subscription): two deliveries (or
    # replicas) racing to create it meet here, and only the one that inserted the claim creates it.
    claim_key: str | None = Field(default=None, max_length=300, unique=True, index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))


class ActionSeen(SQLModel, table=True):
    """The newest revision told of each improvement action: a late `action.overdue` of an action since done,
    cancelled or given a later due date opens no chase."""

    __tablename__ = "actions_seen"

    tenant: str = Field(max_length=64, primary_key=True)
    action_id: str = Field(max_length=64, primary_key=True)
    revision: int = 0
    status: str = Field(max_length=16)
    due_on: str = Field(max_length=10)
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))


class AlertOrder(SQLModel, table=True):
    """The newest observation sent (or being sent) per alert of a subscription: an older one is not sent after it."""

    __tablename__ = "alert_order"
    __table_args__ = (UniqueConstraint("subscription_id", "alert_key", name="uq_alert_order_subscription_key"),)

    id: int | None = Field(default=None, sa_column=Column(BigIntPK, primary_key=True, autoincrement=True))
    tenant: str = Field(max_length=64)
    subscription_id: str = Field(max_length=36)
    alert_key: str = Field(max_length=300)
    observed_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    event_id: str = Field(max_length=64)
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))


class RemovedSubscription(SQLModel, table=True):
    """A subscription an OpenSLO deletion named before any apply created it (the apply was delivered later): an
    apply older than `removed_at` does not create it, a newer one does."""

    __tablename__ = "openslo_removed_subscriptions"

    tenant: str = Field(max_length=64, primary_key=True)
    name: str = Field(max_length=200, primary_key=True)
    removed_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    # `<kind> <name>` of the deleted document, for the reason a subscription taken over later is disabled with
    document: str | None = Field(default=None, max_length=130)
    # when the deletion was consumed here: a subscription made over the API after it is not an older apply's to take
    consumed_at: datetime | None = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=True))
