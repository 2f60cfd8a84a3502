"""Payloads of the events the measurement service publishes. A change to a payload is a new version, never an edit."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import Field

from slm_shared.contracts.payloads.common import ObservationKind, Payload

ObjectiveStatus = Literal["healthy", "at_risk", "breached", "recovered", "no_data"]


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
