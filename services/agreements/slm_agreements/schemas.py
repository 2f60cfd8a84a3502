"""Agreements API models."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from slm_agreements.lifecycle import Kind, PartyKind, State
from slm_shared.contracts.payloads import TargetV1, WindowV1

ContactRole = Literal["business_owner", "service_level_manager", "technical_contact"]
ReviewCycle = Literal["monthly", "quarterly", "yearly"]
EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


class Contact(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    email: str = Field(max_length=320, pattern=EMAIL)
    role: ContactRole
    escalation_level: int = Field(1, ge=1, le=10, description="1 is contacted first")


class PartyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    kind: PartyKind
    contacts: list[Contact] = Field(default_factory=list, max_length=100)


class PartyPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    kind: PartyKind
    contacts: list[Contact]
    created_at: datetime


class Window(WindowV1):
    model_config = ConfigDict(extra="forbid")


class ObjectiveIn(TargetV1):
    """A measurable objective: indicator, objective in (0, 1] and a compliance window."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, max_length=200)
    indicator: str = Field(min_length=1, max_length=200)
    objective: float = Field(gt=0, le=1, description="target attainment as a fraction, e.g. 0.999")
    window: Window


class AgreementCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Kind
    name: str = Field(min_length=1, max_length=200)
    service_id: str = Field(min_length=1, max_length=64)
    offering_id: str = Field(min_length=1, max_length=64)
    provider_party_id: str | None = Field(None, max_length=64, description="omit when the tenant itself provides")
    consumer_party_id: str = Field(min_length=1, max_length=64)
    effective_from: AwareDatetime | None = Field(None, description="defaults to now")
    effective_to: AwareDatetime | None = None
    review_cycle: ReviewCycle = "quarterly"
    objectives: list[ObjectiveIn] = Field(
        default_factory=list, max_length=100, description="override (same indicator) or add to the offering's targets"
    )


class TransitionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    comment: str | None = Field(None, max_length=4000)


class ObjectivePublic(TargetV1):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str | None
    customer_specific: bool


class AcceptancePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    side: Literal["provider", "consumer"]
    actor_subject: str
    actor_role: str
    agreement_version: int
    accepted_at: datetime


class AgreementPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    kind: Kind
    name: str
    service_id: str
    service_key: str
    offering_id: str | None
    offering_version: int | None
    provider_party_id: str | None
    consumer_party_id: str
    state: State
    version: int
    revision: int
    review_cycle: ReviewCycle
    effective_from: datetime
    effective_to: datetime | None
    objectives: list[ObjectivePublic]
    acceptances: list[AcceptancePublic]
    created_by: str
    created_at: datetime
    updated_at: datetime
    activated_at: datetime | None
    ended_at: datetime | None


class AgreementSummary(BaseModel):
    """An agreement in a list, without its objectives and acceptances."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    kind: Kind
    name: str
    service_id: str
    service_key: str
    offering_id: str | None
    provider_party_id: str | None
    consumer_party_id: str
    state: State
    version: int
    effective_from: datetime
    effective_to: datetime | None
    updated_at: datetime


class HistoryEntry(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    agreement_version: int
    action: str
    from_state: State | None
    to_state: State
    sides: list[str]
    actor_subject: str
    actor_role: str
    comment: str | None
    at: datetime
