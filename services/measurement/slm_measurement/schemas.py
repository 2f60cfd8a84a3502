"""Measurement API models (the ingest path decodes with msgspec, see ingest.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

ObjectiveStatus = Literal["healthy", "at_risk", "breached", "recovered", "no_data"]


class IngestAccepted(BaseModel):
    """How many points of the batch were stored."""

    accepted: int


class Window(BaseModel):
    kind: Literal["rolling", "calendar"]
    duration: str | None = None
    unit: Literal["week", "month", "quarter"] | None = None
    timezone: str = "UTC"


class Budget(BaseModel):
    """Error budget as fractions of the window's events."""

    total: float = Field(description="allowed share of bad events: 1 - objective")
    consumed: float = Field(description="share of bad events so far")
    remaining: float = Field(description="total - consumed; negative once overspent")
    remaining_ratio: float | None = Field(description="share of the budget still left")


class ObjectivePublic(BaseModel):
    """An agreement's objective with its latest evaluation."""

    id: str
    agreement_id: str
    agreement_version: int
    agreement_kind: str
    objective_id: str
    name: str | None
    service_key: str
    indicator: str
    indicator_kind: str
    objective: float
    comparison: str
    window: Window
    budgeting_method: str
    consumer_party_id: str | None
    active: bool
    status: ObjectiveStatus
    attainment: float | None
    good: float
    total: float
    window_start: datetime | None
    window_end: datetime | None
    budget: Budget
    evaluated_at: datetime | None
