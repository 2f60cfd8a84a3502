"""Agreements API models."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from slm_agreements.lifecycle import Kind, PartyKind, Side, State, VersionStatus
from slm_agreements.terms import (
    CreditBand,
    CreditTerms,
    MeasuredScope,
    ObservationTerms,
    Price,
    ReviewCycle,
    TermsFields,
    TicketTarget,
)
from slm_shared.contracts.payloads import MaintenanceWindowV1, WindowV1
from slm_shared.contracts.targets import Target

ContactRole = Literal["business_owner", "service_level_manager", "technical_contact"]
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
    escalation_seconds: int | None = Field(
        None, ge=60, le=30 * 86400, description="how long a breach may stay unacknowledged before the next level hears"
    )


class PartyUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=200)
    contacts: list[Contact] | None = Field(None, max_length=100)
    escalation_seconds: int | None = Field(None, ge=60, le=30 * 86400)


class PartyPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    kind: PartyKind
    contacts: list[Contact]
    escalation_seconds: int | None = None
    version: int
    created_at: datetime
    updated_at: datetime


class Window(WindowV1):
    model_config = ConfigDict(extra="forbid")


class ObjectiveIn(Target):
    """A measurable objective: indicator, `op`/`value` for thresholds, `target` in (0, 1] and a compliance window."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    name: str | None = Field(None, max_length=200)
    indicator: str = Field(min_length=1, max_length=200)
    window: Window


class ObjectiveChange(ObjectiveIn):
    """An objective in a changed version; give the `id` of an existing objective to keep its identity."""

    id: str | None = Field(None, max_length=36)


class AgreementCreate(TermsFields):
    kind: Kind
    name: str = Field(min_length=1, max_length=200)
    service_id: str = Field(min_length=1, max_length=64)
    offering_id: str = Field(min_length=1, max_length=64)
    provider_party_id: str | None = Field(None, max_length=64, description="omit when the tenant itself provides")
    consumer_party_id: str = Field(min_length=1, max_length=64)
    objectives: list[ObjectiveIn] = Field(
        default_factory=list, max_length=100, description="override (same indicator) or add to the offering's targets"
    )


class TermsChange(TermsFields):
    """New terms for a draft, a counter-proposal or an amendment; what is left out stays as it was."""

    offering_id: str | None = Field(
        None,
        min_length=1,
        max_length=64,
        description="move onto this published offering of the same service (e.g. its next version): its targets,"
        " with their alert policy and maintenance windows, replace the standard objectives",
    )
    objectives: list[ObjectiveChange] | None = Field(
        None, min_length=1, max_length=100, description="the complete new list of objectives"
    )


class TransitionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    comment: str | None = Field(None, max_length=4000)


class ProposalRequest(TransitionRequest):
    changes: TermsChange | None = Field(None, description="terms to change before proposing")


class CounterRequest(TransitionRequest):
    changes: TermsChange = Field(description="what the counter-proposal changes")


class ActivateRequest(TransitionRequest):
    override: bool = Field(False, description="activate despite gaps in the supporting chain, recorded as a risk")


class ObjectivePublic(Target):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str | None
    customer_specific: bool


class AcceptancePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    side: Side
    actor_subject: str
    actor_role: str
    agreement_version: int
    accepted_at: datetime


class Risk(BaseModel):
    """A gap an agreement was activated with, by explicit override."""

    rule: str
    message: str
    service_id: str | None = None
    service_key: str | None = None
    shortfall: float | None = None
    accepted_by: str | None = None
    accepted_at: datetime | None = None


class NotMeasured(BaseModel):
    """Measurement's refusal of an activated version: which version, why, and the term at fault."""

    version: int
    reason: str
    field: str | None = None
    observed_at: datetime


class VersionTerms(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    effective_from: datetime
    effective_to: datetime | None
    review_cycle: ReviewCycle
    renewal_notice_days: int | None
    timezone: str
    support_calendar: str | None
    price: Price | None
    ticket_targets: list[TicketTarget]
    service_credits: list[CreditBand]
    maintenance_windows: list[MaintenanceWindowV1]
    credit_terms: CreditTerms | None = None
    observation_terms: ObservationTerms | None = None
    measured_scope: MeasuredScope = "service"
    risks: list[Risk]

    @field_validator("observation_terms", mode="before")
    @classmethod
    def _no_terms(cls, value: Any) -> Any:
        return value or None

    @field_validator("measured_scope", mode="before")
    @classmethod
    def _whole_service(cls, value: Any) -> Any:
        return value or "service"

    objectives: list[ObjectivePublic]
    acceptances: list[AcceptancePublic]


class VersionPublic(VersionTerms):
    """One version of an agreement's terms, as negotiated."""

    agreement_id: str
    version: int
    status: VersionStatus
    proposed_by: Side | None
    based_on: int | None
    created_by: str
    created_at: datetime
    in_force_from: datetime | None
    in_force_to: datetime | None
    offering_id: str | None = Field(None, description="the offering this version is based on")
    offering_version: int | None = None


class VersionSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    version: int
    status: VersionStatus
    proposed_by: Side | None
    based_on: int | None
    created_by: str
    created_at: datetime
    effective_from: datetime
    effective_to: datetime | None
    in_force_from: datetime | None
    in_force_to: datetime | None


class AgreementPublic(VersionTerms):
    """An agreement with the terms of its newest version (for a customer, of the one it may see).

    `offering_id` and `offering_version` are those of the version put in force last (of the first version
    until one is); the offering a newer version proposes is on that version.
    """

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
    in_force_version: int | None
    revision: int
    requirement: dict[str, Any] | None
    created_by: str
    created_at: datetime
    updated_at: datetime
    activated_at: datetime | None
    ended_at: datetime | None
    not_measured: NotMeasured | None = Field(
        None, description="set when measurement could not set up the version in force: why it is not measured"
    )


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
    in_force_version: int | None
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


class Change(BaseModel):
    """One difference between two versions."""

    section: Literal["objectives", "ticket_targets", "service_credits", "price", "maintenance_windows", "terms"]
    key: str
    change: Literal["added", "removed", "changed"]
    before: Any = None
    after: Any = None


class VersionDiff(BaseModel):
    from_version: int
    to_version: int
    changes: list[Change]
