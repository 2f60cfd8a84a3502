"""Parts of event payloads that several producers use. A change to a payload is a new version, never an edit."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Comparison = Literal[">=", ">", "<=", "<"]


BudgetingMethod = Literal["occurrences", "timeslices", "ratio_timeslices"]


IndicatorKind = Literal["ratio", "threshold", "timeslice", "ticket_time"]


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


ObservationKind = Literal["unavailable", "degraded", "slow", "incorrect", "other"]


CHANGE_STATUSES_FINAL = frozenset({"closed", "cancelled", "failed"})
