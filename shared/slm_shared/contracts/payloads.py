"""Event payloads, version 1. A change to a payload is a new version, never an edit."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal

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


class ServiceCreatedV1(Payload):
    service_id: str
    key: str
    name: str
    type: Literal["business", "technical"] = "business"
    lifecycle: Literal["pipeline", "live", "retired"] = "live"


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


class ObjectiveV1(TargetV1):
    objective_id: str
    name: str | None = None
    customer_specific: bool = False


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
