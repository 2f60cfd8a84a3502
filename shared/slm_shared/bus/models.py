"""Tables every service keeps for its messaging: outbox, inbox and dead letters."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Integer, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from slm_shared.contracts.envelope import EVENT_ID_MAX_LENGTH, EVENT_TYPE_MAX_LENGTH, TENANT_MAX_LENGTH
from slm_shared.db import UTCDateTime, utcnow

BigIntPK = BigInteger().with_variant(Integer(), "sqlite")
SUBJECT_MAX_LENGTH = 255  # a NATS subject bounds none: a dead letter keeps a longer one cut (`store_dead_letter`)


class OutboxMessage(SQLModel, table=True):
    """An event written in the same transaction as the change it reports."""

    __tablename__ = "outbox"

    seq: int | None = Field(default=None, sa_column=Column(BigIntPK, primary_key=True, autoincrement=True))
    # Unique and set by the writer: the sentinel that lets the rows of one flush go in one
    # INSERT .. RETURNING seq, each seq matched to its row, instead of one INSERT per event.
    event_id: str = Field(max_length=EVENT_ID_MAX_LENGTH, unique=True, sa_column_kwargs={"insert_sentinel": True})
    tenant: str = Field(max_length=TENANT_MAX_LENGTH, index=True)
    subject: str = Field(max_length=SUBJECT_MAX_LENGTH)
    type: str = Field(max_length=EVENT_TYPE_MAX_LENGTH)
    headers: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    body: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    sent_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True, index=True))
    attempts: int = 0
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    # Set when the relay gave up on the row after its attempts; re-queueing clears it.
    failed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))

    @property
    def status(self) -> str:
        """`sent`, `failed` (given up, waiting to be re-queued) or `pending`."""
        if self.sent_at is not None:
            return "sent"
        return "failed" if self.failed_at is not None else "pending"


class InboxMessage(SQLModel, table=True):
    """An event a consumer has applied; recorded in the same transaction as its effect."""

    __tablename__ = "inbox"
    __table_args__ = (UniqueConstraint("consumer", "event_id", name="uq_inbox_consumer_event"),)

    id: int | None = Field(default=None, sa_column=Column(BigIntPK, primary_key=True, autoincrement=True))
    consumer: str = Field(max_length=64)
    event_id: str = Field(max_length=EVENT_ID_MAX_LENGTH)
    event_type: str = Field(max_length=EVENT_TYPE_MAX_LENGTH)
    tenant: str = Field(max_length=TENANT_MAX_LENGTH)
    processed_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))


class DeadLetter(SQLModel, table=True):
    """A message that kept failing (or could not be read); kept for inspection and replay."""

    __tablename__ = "dead_letters"

    id: int | None = Field(default=None, sa_column=Column(BigIntPK, primary_key=True, autoincrement=True))
    consumer: str = Field(max_length=64)
    stream: str = Field(max_length=64)
    subject: str = Field(max_length=SUBJECT_MAX_LENGTH)
    event_id: str | None = Field(default=None, max_length=EVENT_ID_MAX_LENGTH, index=True)
    event_type: str | None = Field(default=None, max_length=EVENT_TYPE_MAX_LENGTH)
    tenant: str | None = Field(default=None, max_length=TENANT_MAX_LENGTH, index=True)
    headers: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    body: str = Field(sa_column=Column(Text, nullable=False))
    error: str = Field(sa_column=Column(Text, nullable=False))
    deliveries: int = 0
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    replayed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
