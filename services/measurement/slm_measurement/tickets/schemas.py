"""Ticket API models."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from slm_measurement.tickets.clocks import EVENT_KINDS
from slm_shared.web.bounds import StorableStr

Priority = Literal["P1", "P2", "P3", "P4"]
EventKind = Literal[EVENT_KINDS]  # type: ignore[valid-type]


class TicketEventIn(BaseModel):
    """A ticket lifecycle event from an ITSM tool (its text is stored: no U+0000, `StorableStr`)."""

    model_config = ConfigDict(extra="forbid")

    id: StorableStr = Field(min_length=1, max_length=128, description="the event's id: an event is applied once")
    ticket_id: StorableStr = Field(min_length=1, max_length=128)
    type: EventKind = Field(
        description="opened, assigned, state_changed, responded, resolved, closed, reopened, cancelled"
    )
    at: AwareDatetime
    service: StorableStr | None = Field(
        None, min_length=1, max_length=64, description="service key; required when opened"
    )
    priority: Priority | None = Field(None, description="required when opened; a later value re-prioritises")
    agreement_id: StorableStr | None = Field(None, max_length=64, description="when the tool knows the agreement")
    customer: StorableStr | None = Field(None, max_length=64, description="customer party id, to find the agreement")
    state: StorableStr | None = Field(None, max_length=64, description="the tool's state name, e.g. awaiting_customer")
    paused: bool | None = Field(None, description="override: whether this state pauses the clocks")


class TicketEventsAccepted(BaseModel):
    accepted: int = Field(description="events applied now")
    duplicates: int = Field(description="events already applied before (ignored)")
    tickets: int = Field(description="tickets whose clocks were recomputed")


class ClockPublic(BaseModel):
    """A ticket's response or resolution clock at `as_of`."""

    goal_seconds: int | None = Field(description="business seconds; null when the agreement sets no goal")
    elapsed_seconds: float
    remaining_seconds: float | None
    share: float | None = Field(description="elapsed / goal")
    state: Literal["running", "paused", "met", "breached", "cancelled", "stopped"]
    paused: bool
    breach_at: datetime | None = Field(description="when the goal is (or was) reached, at the current pace")
    stopped_at: datetime | None
    warnings: dict[str, datetime | None] = Field(description="warning share -> instant it falls")


class TicketPublic(BaseModel):
    id: str
    ticket_id: str
    service_key: str
    agreement_id: str | None
    consumer_party_id: str | None
    priority: str | None
    state: str
    opened_at: datetime | None
    at_risk: bool
    breached: bool
    as_of: datetime
    clocks: dict[str, ClockPublic]
