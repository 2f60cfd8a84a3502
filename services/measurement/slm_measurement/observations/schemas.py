"""Observation API models."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from slm_shared.terms.observations import ObservationKind
from slm_shared.web.bounds import BoundedDatetime, StoredHttpUrl

Impact = Literal["low", "medium", "high", "critical"]


class ObservationCreate(BaseModel):
    """What the customer saw, from when to when, which objectives it affects, impact and reference."""

    model_config = ConfigDict(extra="forbid")

    kind: ObservationKind = "unavailable"
    summary: str = Field(min_length=1, max_length=2000, description="what was seen, in the customer's words")
    start: BoundedDatetime
    end: BoundedDatetime
    objective_ids: list[str] = Field(
        default_factory=list, max_length=50, description="the agreement's objectives it affects; empty: all"
    )
    impact: Impact = "medium"
    reference: str | None = Field(None, max_length=200, description="the customer's own ticket or reference")


class AnnotationCreate(BaseModel):
    """The provider's annotation: evidence, cause, linked incident or problem (the observation is not changed)."""

    model_config = ConfigDict(extra="forbid")

    note: str = Field(min_length=1, max_length=4000)
    cause: str | None = Field(None, max_length=500)
    incident_ref: str | None = Field(None, max_length=200)
    problem_ref: str | None = Field(None, max_length=200)
    evidence_url: StoredHttpUrl | None = None


class AnnotationPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    note: str
    cause: str | None
    incident_ref: str | None
    problem_ref: str | None
    evidence_url: str | None
    author: str
    created_at: datetime


class ObservationPublic(BaseModel):
    """An observation as recorded, whether it counts, and the provider's annotations."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    agreement_id: str
    agreement_version: int
    service_key: str
    consumer_party_id: str | None
    kind: ObservationKind
    summary: str
    start: datetime
    end: datetime
    objective_ids: list[str]
    impact: Impact
    reference: str | None
    counts: bool = Field(description="whether the agreement's terms count it as bad time (until withdrawn)")
    source: Literal["customer-observed"] = "customer-observed"
    recorded_by: str
    on_behalf: bool
    recorded_at: datetime
    withdrawn_at: datetime | None
    withdrawn_by: str | None
    annotations: list[AnnotationPublic] = Field(default_factory=list)
