"""Payloads of the events the agreements service publishes. A change to a payload is a new version, never an edit."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, Field

from slm_shared.contracts.payloads.common import ObservationKind, Payload, PriceV1, TargetV1


class ObjectiveV1(TargetV1):
    objective_id: str
    name: str | None = None
    customer_specific: bool = False


class MaintenanceWindowV1(BaseModel):
    """Time the measurement must not count: one-off (`start`/`end`) or recurring (`rrule`)."""

    start: datetime = Field(description="first (or only) occurrence start")
    end: datetime | None = Field(None, description="end of a one-off window")
    rrule: str | None = Field(None, description="RFC 5545 recurrence rule, e.g. FREQ=WEEKLY;BYDAY=SU")
    duration_minutes: int | None = Field(None, ge=1, description="length of each recurring occurrence")
    timezone: str = "UTC"
    reason: str | None = None


class ObjectiveTicketTargetV1(BaseModel):
    """Response and resolution goals for one ticket priority, in business seconds."""

    priority: Literal["P1", "P2", "P3", "P4"]
    response_seconds: int | None = None
    resolution_seconds: int | None = None


MeasuredScope = Literal["service", "customer"]


def _unavailable_only() -> list[ObservationKind]:
    return ["unavailable"]


class ObservationTermsV1(BaseModel):
    """How the customer's recorded observations count in the agreement's figures."""

    counts_as: Literal["bad_time", "not_counted"] = Field(
        "bad_time", description="bad_time: the observed span counts as bad for the objectives it affects"
    )
    kinds: list[ObservationKind] = Field(
        default_factory=_unavailable_only, description="the kinds of observation that count"
    )


class AgreementActivatedV1(Payload):
    agreement_id: str
    version: int
    kind: Literal["SLA", "OLA", "UC", "expectation"]
    name: str
    service_id: str
    service_key: str
    offering_id: str | None = None
    provider_party_id: str | None = None
    consumer_party_id: str | None = None
    effective_from: datetime
    effective_to: datetime | None = None
    objectives: list[ObjectiveV1]
    maintenance_windows: list[MaintenanceWindowV1] = Field(default_factory=list)
    ticket_targets: list[ObjectiveTicketTargetV1] = Field(default_factory=list)
    calendar: dict[str, Any] | None = Field(None, description="support calendar (slm_shared.calendars shape)")
    credit_schedule: list[dict[str, Any]] = Field(default_factory=list)
    timezone: str = "UTC"
    price: PriceV1 | None = Field(None, description="the offering's price, for service credits")
    activated_at: datetime | None = Field(None, description="when the version was put in force; else the event time")
    credit_terms: CreditTermsV1 | None = Field(None, description="cap and partial-period rule of the credits")
    observation_terms: ObservationTermsV1 | None = Field(
        None, description="how customer observations count; none: recorded and shown, not counted"
    )
    measured_scope: MeasuredScope = Field(
        "service", description="service: every scope summed; customer: only the scope named after the consumer party"
    )


class AgreementEndedV1(Payload):
    agreement_id: str
    version: int
    reason: Literal["superseded", "terminated", "expired"]


class AgreementStateChangedV1(Payload):
    """An agreement version moved in its lifecycle (proposed, countered, agreed, amended, expired, terminated)."""

    agreement_id: str
    version: int
    kind: Literal["SLA", "OLA", "UC", "expectation"]
    name: str
    service_id: str
    service_key: str
    provider_party_id: str | None = None
    consumer_party_id: str | None = None
    state: str
    previous_state: str | None = None
    actor: str | None = Field(None, description="subject of who acted; 'system' for scheduled jobs")
    side: Literal["provider", "consumer"] | None = None
    comment: str | None = None
    effective_from: datetime | None = None
    effective_to: datetime | None = None


class AgreementRenewalDueV1(Payload):
    """An agreement in force ends soon: the renewal notice period is about to start."""

    agreement_id: str
    version: int
    name: str
    service_key: str
    consumer_party_id: str | None = None
    effective_to: datetime
    renewal_notice_days: int
    notice_starts_at: datetime


class ReviewDueV1(Payload):
    review_id: str
    agreement_id: str
    agreement_name: str
    service_key: str
    consumer_party_id: str | None = None
    cycle: Literal["monthly", "quarterly", "yearly"]
    due_on: date


class ReviewHeldV1(Payload):
    review_id: str
    agreement_id: str
    agreement_name: str
    service_key: str
    consumer_party_id: str | None = None
    held_on: date
    attendees: list[str] = Field(default_factory=list)
    summary: str = ""
    decisions: list[str] = Field(default_factory=list)


class ImprovementActionV1(Payload):
    """An improvement action on an agreement (created, updated or overdue)."""

    action_id: str
    agreement_id: str
    service_key: str
    title: str
    owner: str
    due_on: date
    status: Literal["open", "in_progress", "done", "cancelled"]
    source: Literal["review", "breach", "manual"]
    objective_id: str | None = None
    review_id: str | None = None
    breach_ref: str | None = None
    owner_email: str | None = None
    owner_party_id: str | None = None
    # Added fields (optional, so earlier events still validate): a platform-written title as a message key
    # and parameters, rendered in each reader's language; the request for change raised from the action.
    title_key: str | None = Field(None, max_length=64, description="e.g. action.restore_indicator")
    title_params: dict[str, str] | None = None
    change_request_id: str | None = None
    change_status: str | None = None
    change_ref: str | None = Field(None, description="the change's number in the ITSM tool, e.g. CHG0030001")
    revision: int | None = Field(
        None, ge=1, description="the action's revision: a consumer keeps the highest (events may arrive out of order)"
    )
    description: str | None = Field(None, max_length=20000)
    description_key: str | None = Field(None, max_length=64, description="e.g. action.breach_description")
    description_params: dict[str, str] | None = None


class ChangeRequestedV1(Payload):
    """A request for change raised from an improvement action, for an ITSM tool to turn into a change ticket."""

    change_request_id: str
    action_id: str
    agreement_id: str
    service_id: str
    service_key: str
    summary: str
    description: str = ""
    priority: Literal["low", "medium", "high"] = "medium"
    requested_by: str


class PartyContactV1(BaseModel):
    """A person to notify for a party, with the escalation level at which they are contacted (1 first)."""

    name: str
    email: str
    role: Literal["business_owner", "service_level_manager", "technical_contact"]
    escalation_level: int = Field(1, ge=1, le=10)


class PartyChangedV1(Payload):
    """A party was created or changed: its name, kind and the contacts to notify and escalate to."""

    party_id: str
    name: str
    kind: str = Field(description="customer, internal or supplier")
    contacts: list[PartyContactV1] = Field(default_factory=list)
    escalation_seconds: int | None = Field(
        None, ge=1, description="how long a breach may stay unacknowledged before the next level hears of it"
    )
    version: int = Field(1, description="grows with every change, so consumers keep the newest")


class CreditTermsV1(BaseModel):
    """How a period's service credit is capped, and priced when the period is only partly in force."""

    cap_percent: Decimal = Decimal(100)
    partial_period: Literal["pro_rata", "full"] = "pro_rata"
