"""Ticket tables: the tickets with their computed clocks, their lifecycle events and their outcomes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from slm_measurement.models import new_id
from slm_shared.db import UTCDateTime, utcnow


class Ticket(SQLModel, table=True):
    """One ITSM ticket, mapped to an agreement, with its clocks as of `evaluated_at`."""

    __tablename__ = "tickets"
    __table_args__ = (
        UniqueConstraint("tenant", "ticket_id", name="uq_tickets_ticket"),
        Index("ix_tickets_due", "next_due_at"),
        Index("ix_tickets_agreement", "tenant", "agreement_id"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    tenant: str = Field(max_length=64)
    ticket_id: str = Field(max_length=128)
    service_key: str = Field(max_length=64)
    requested_agreement_id: str | None = Field(default=None, max_length=64)
    customer: str | None = Field(default=None, max_length=64, description="the party the ticket named, if any")
    agreement_id: str | None = Field(default=None, max_length=64)
    consumer_party_id: str | None = Field(default=None, max_length=64, index=True)
    priority: str | None = Field(default=None, max_length=8)
    state: str = Field(default="new", max_length=64)
    opened_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    clocks: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    fired: dict[str, list[float]] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    at_risk: bool = False
    breached: bool = False
    next_due_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    evaluated_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))


class TicketEventRow(SQLModel, table=True):
    """One lifecycle event as received (kept once per event id)."""

    __tablename__ = "ticket_events"
    __table_args__ = (
        UniqueConstraint("tenant", "event_id", name="uq_ticket_events_event"),
        Index("ix_ticket_events_ticket", "tenant", "ticket_id", "at"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    tenant: str = Field(max_length=64)
    event_id: str = Field(max_length=128)
    ticket_id: str = Field(max_length=128)
    at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    kind: str = Field(max_length=16)
    state: str | None = Field(default=None, max_length=64)
    paused: bool | None = None
    priority: str | None = Field(default=None, max_length=8)
    received_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))


class TicketOutcome(SQLModel, table=True):
    """A concluded clock: met (stopped within its goal) or missed (breached), at the instant it was decided."""

    __tablename__ = "ticket_outcomes"
    __table_args__ = (Index("ix_ticket_outcomes_agreement", "tenant", "agreement_id", "concluded_at"),)

    ticket_row_id: str = Field(max_length=36, primary_key=True)
    clock: str = Field(max_length=16, primary_key=True)
    tenant: str = Field(max_length=64)
    agreement_id: str = Field(max_length=64)
    priority: str = Field(max_length=8)
    concluded_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    met: bool
