"""Event payloads, version 1. A change to a payload is a new version, never an edit."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Comparison = Literal[">=", ">", "<=", "<"]
BudgetingMethod = Literal["occurrences", "timeslices", "ratio_timeslices"]
IndicatorKind = Literal["ratio", "threshold", "timeslice", "ticket_time"]
ObjectiveStatus = Literal["healthy", "at_risk", "breached", "recovered", "no_data"]


class Payload(BaseModel):
    model_config = ConfigDict(extra="allow")


class WindowV1(BaseModel):
    """A compliance window: rolling (`duration` such as 28d) or calendar (week/month/quarter)."""

    kind: Literal["rolling", "calendar"]
    duration: str | None = Field(None, description="rolling length, e.g. '28d', '30d', '12h'")
    unit: Literal["week", "month", "quarter"] | None = None
    timezone: str = "UTC"


class TargetV1(BaseModel):
    """A measurable target on an indicator."""

    indicator: str
    indicator_kind: IndicatorKind = "ratio"
    objective: float = Field(description="target attainment as a fraction, e.g. 0.999")
    comparison: Comparison = ">="
    threshold: float | None = Field(None, description="value bound for threshold indicators")
    window: WindowV1
    budgeting_method: BudgetingMethod = "occurrences"
    timeslice_seconds: int | None = None
    timeslice_target: float | None = None


class PriceV1(BaseModel):
    amount: Decimal
    currency: str
    period: Literal["month", "quarter", "year"] = "month"


class TicketTargetV1(BaseModel):
    """Response and resolution times for tickets of one priority, in business seconds."""

    priority: Literal["P1", "P2", "P3", "P4"]
    response_seconds: int | None = None
    resolution_seconds: int | None = None


class ServiceCreditBandV1(BaseModel):
    """A credit owed when attainment falls below `below` and is at least `down_to`."""

    below: float
    down_to: float = 0.0
    credit_percent: Decimal
    indicator: str | None = Field(None, description="the objective's indicator the band covers; none covers all")


class ServiceCreatedV1(Payload):
    service_id: str
    key: str
    name: str
    type: Literal["business", "technical"] = "business"
    lifecycle: Literal["pipeline", "live", "retired"] = "live"
    owner_team: str | None = None
    owner_contact: str | None = None
    tags: list[str] = Field(default_factory=list)


class ServiceUpdatedV1(ServiceCreatedV1):
    pass


class OfferingPublishedV1(Payload):
    offering_id: str
    service_id: str
    service_key: str
    name: str
    version: int
    price: PriceV1 | None = None
    targets: list[TargetV1]
    support_calendar: str | None = Field(None, description="key of the calendar of support hours; none is 24x7")
    ticket_targets: list[TicketTargetV1] = Field(default_factory=list)
    service_credits: list[ServiceCreditBandV1] = Field(default_factory=list)
    supersedes_offering_id: str | None = None


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


ObservationKind = Literal["unavailable", "degraded", "slow", "incorrect", "other"]
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


class ObjectiveStatusV1(Payload):
    """Reported when an objective's status changes (never on every evaluation)."""

    agreement_id: str
    objective_id: str
    service_key: str
    indicator: str
    consumer_party_id: str | None = None
    status: ObjectiveStatus
    previous_status: ObjectiveStatus
    objective: float
    attainment: float | None
    good: float
    total: float
    window_start: datetime
    window_end: datetime
    observed_at: datetime
    severity: Literal["info", "warning", "critical"] = "warning"
    budget_exhausted_at: datetime | None = Field(
        None, description="when the forecast expects the error budget to run out (at risk and breached)"
    )


class SourceStateV1(Payload):
    """Reported, once per objective it feeds, when a pulled series' source fails or recovers."""

    agreement_id: str
    objective_id: str
    service_key: str
    indicator: str
    consumer_party_id: str | None = None
    state: Literal["ok", "source_down", "query_error", "no_data"]
    previous_state: Literal["pending", "ok", "source_down", "query_error", "no_data"]
    severity: Literal["info", "warning"]
    detail: str
    observed_at: datetime


class BurnAlertV1(Payload):
    """A multi-window burn-rate tier started (`firing`) or stopped firing for an objective."""

    agreement_id: str
    objective_id: str
    objective_row_id: str = Field(description="measurement's id of the objective (the event subject)")
    service_key: str
    indicator: str
    consumer_party_id: str | None = None
    tier: str = Field(description="name of the policy tier, e.g. page-1h")
    severity: Literal["page", "ticket"]
    firing: bool
    long_window: str = Field(description="e.g. '1h'")
    short_window: str = Field(description="e.g. '5m'")
    long_burn_rate: float | None
    short_burn_rate: float | None
    threshold_factor: float = Field(description="burn rate at or above which the tier fires")
    budget_share: float = Field(description="share of the period's budget the tier guards")
    objective: float
    observed_at: datetime
    objective_name: str | None = Field(None, description="the objective's name, when it has one")
    budget_exhausted_at: datetime | None = Field(
        None, description="when the forecast expects the error budget to run out, if it does"
    )


class ServiceRetiredV1(ServiceCreatedV1):
    pass


class OfferingRetiredV1(Payload):
    offering_id: str
    service_id: str
    service_key: str
    name: str
    version: int
    reason: Literal["retired", "superseded"] = "retired"
    successor_offering_id: str | None = None


class IndicatorChangedV1(Payload):
    indicator_id: str
    key: str
    name: str
    kind: IndicatorKind
    unit: str = ""
    clock: Literal["response", "resolution"] | None = None
    version: int = 1


class BusinessHoursV1(BaseModel):
    day: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    start: str = Field(description="HH:MM local time")
    end: str = Field(description="HH:MM local time, 24:00 for the end of the day")


class CalendarChangedV1(Payload):
    calendar_id: str
    key: str
    name: str
    timezone: str
    hours: list[BusinessHoursV1]
    holidays: list[date] = Field(default_factory=list)
    country: str | None = None
    subdivision: str | None = None
    version: int = 1


class DependencyChangedV1(Payload):
    service_id: str
    service_key: str
    supporting_service_id: str
    supporting_service_key: str


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


ChangeStatus = Literal[
    "requested", "new", "assessing", "scheduled", "implementing", "reviewing", "closed", "cancelled", "failed"
]
CHANGE_STATUSES_FINAL = frozenset({"closed", "cancelled", "failed"})


class ChangeStatusChangedV1(Payload):
    """The ITSM tool created a request for change, or its change moved on (status as the platform names it)."""

    change_request_id: str
    action_id: str
    agreement_id: str
    status: ChangeStatus
    system: str = Field(description="the ITSM tool: servicenow")
    external_id: str = Field(description="the tool's record id (sys_id)")
    external_ref: str | None = Field(None, description="the number people use, e.g. CHG0030001")
    external_state: str | None = Field(None, description="the tool's own state value")
    observed_at: datetime


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


class TicketSlaV1(Payload):
    """A ticket's response or resolution clock passed a warning share of its goal, or its goal (breach)."""

    ticket_id: str
    agreement_id: str
    service_key: str
    consumer_party_id: str | None = None
    priority: Literal["P1", "P2", "P3", "P4"]
    clock: Literal["response", "resolution"]
    threshold: float = Field(description="share of the goal passed: e.g. 0.5, 0.75, or 1.0 for a breach")
    goal_seconds: int = Field(description="the goal in business seconds")
    elapsed_seconds: float = Field(description="business seconds counted when the threshold fell")
    due_at: datetime = Field(description="the instant the threshold fell")
    breach_at: datetime | None = Field(None, description="the instant the goal is (or was) reached, if known")
    observed_at: datetime


class ReportReadyV1(Payload):
    """A reporting period of an agreement closed: its service report can be fetched."""

    agreement_id: str
    agreement_name: str
    service_key: str
    consumer_party_id: str | None = None
    period: str = Field(description="e.g. 2026-03")
    period_start: datetime
    period_end: datetime
    report_path: str = Field(description="API path of the report; add ?format=csv|html and ?lang=")
    objectives_missed: int = 0
    credit_percent: Decimal = Decimal("0")


class AgreementNotMeasuredV1(Payload):
    """Measurement could not set up an activated agreement version: it is not measured, for this reason."""

    agreement_id: str
    version: int
    service_key: str
    reason: str
    field: str | None = Field(None, description="the term at fault, e.g. maintenance_windows.0.rrule")
    observed_at: datetime


class CreditTermsV1(BaseModel):
    """How a period's service credit is capped, and priced when the period is only partly in force."""

    cap_percent: Decimal = Decimal(100)
    partial_period: Literal["pro_rata", "full"] = "pro_rata"


class ObservationRecordedV1(Payload):
    """A customer's observation was recorded on an agreement (immutable from then on)."""

    observation_id: str
    agreement_id: str
    agreement_name: str = ""
    service_key: str
    consumer_party_id: str | None = None
    kind: ObservationKind
    summary: str
    start: datetime
    end: datetime
    objective_ids: list[str] = Field(default_factory=list, description="the objectives it affects; empty: all")
    impact: Literal["low", "medium", "high", "critical"] = "medium"
    reference: str | None = None
    counts: bool = Field(description="whether the agreement's terms count it in the figures")
    recorded_by: str
    recorded_at: datetime
    severity: Literal["info", "warning", "critical"] = "warning"


class ObservationAnnotatedV1(Payload):
    """The provider annotated a customer's observation (evidence, cause, linked incident or problem)."""

    observation_id: str
    annotation_id: str
    agreement_id: str
    service_key: str
    consumer_party_id: str | None = None
    note: str
    cause: str | None = None
    incident_ref: str | None = None
    problem_ref: str | None = None
    author: str
    annotated_at: datetime


class ChainRiskV1(Payload):
    """A supporting service's OLA or UC objective went at risk or breached: an SLA that runs on it is warned."""

    agreement_id: str = Field(description="the SLA that depends on the supporting service")
    agreement_name: str = ""
    service_key: str = Field(description="the SLA's service")
    consumer_party_id: str | None = None
    affected_objective_ids: list[str] = Field(
        default_factory=list, description="the SLA's objectives the supporting one composes into (same indicator)"
    )
    supporting_agreement_id: str
    supporting_agreement_kind: Literal["OLA", "UC"]
    supporting_objective_id: str
    supporting_service_key: str
    indicator: str
    status: Literal["at_risk", "breached"]
    depth: int = Field(description="levels between the SLA's service and the supporting one (1: directly under)")
    path: list[str] = Field(default_factory=list, description="service keys from the SLA's service down")
    attainment: float | None = None
    objective: float
    budget_exhausted_at: datetime | None = Field(None, description="when the supporting budget runs out, if known")
    observed_at: datetime
    severity: Literal["info", "warning", "critical"] = "warning"


class ProposalDecidedV1(Payload):
    """A manager accepted or dismissed a proposal the portfolio drafted for the next period."""

    proposal_id: str
    agreement_id: str
    agreement_name: str = ""
    objective_id: str
    service_key: str
    consumer_party_id: str | None = None
    kind: Literal["tier_change", "amendment", "improvement_action"]
    decision: Literal["accepted", "dismissed"]
    reason: str
    reason_key: str | None = Field(None, max_length=64, description="e.g. proposal.amendment; absent before")
    reason_params: dict[str, str] | None = None
    period: str
    decided_by: str
    decided_at: datetime


class OpenSLODataSourceV1(BaseModel):
    name: str = Field(max_length=63)
    type: Literal["prometheus"] = "prometheus"
    url: str = Field(max_length=2000)


class OpenSLOSeriesV1(BaseModel):
    service: str = Field(max_length=64)
    indicator: str = Field(max_length=128)
    data_source: str = Field(max_length=63)
    good_query: str | None = Field(None, max_length=4000)
    total_query: str | None = Field(None, max_length=4000)
    value_query: str | None = Field(None, max_length=4000)
    step_seconds: int = Field(60, ge=15, le=3600)


class OpenSLOTargetV1(BaseModel):
    name: str = Field(max_length=200, description="the subscription's name, openslo:<target>:<service>")
    service_key: str
    channel: Literal["webhook", "email", "pagerduty", "slack", "teams"]
    target: dict[str, Any] = Field(description="the target without its credential")
    secret_env: str | None = Field(None, description="the variable holding the credential (never its value)")


class OpenSLOAppliedV1(Payload):
    """OpenSLO documents were applied: the prometheus series to pull and the targets to subscribe to burn alerts."""

    data_sources: list[OpenSLODataSourceV1] = Field(default_factory=list)
    pulled_series: list[OpenSLOSeriesV1] = Field(default_factory=list)
    notification_targets: list[OpenSLOTargetV1] = Field(default_factory=list)
