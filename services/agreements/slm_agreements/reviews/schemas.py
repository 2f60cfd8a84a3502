"""Review API models."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ReviewRecord(BaseModel):
    """What a held review recorded; name a scheduled review to mark it held."""

    model_config = ConfigDict(extra="forbid")

    review_id: str | None = Field(None, max_length=36, description="the scheduled review this one was")
    held_on: date
    attendees: list[str] = Field(default_factory=list, max_length=100)
    summary: str = Field("", max_length=20000)
    decisions: list[str] = Field(default_factory=list, max_length=100)


class ReviewSchedule(BaseModel):
    """A review on a chosen date, beside the ones the review cycle schedules."""

    model_config = ConfigDict(extra="forbid")

    due_on: date = Field(description="the date of the review meeting; today or later, within two years")


class ReviewPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    agreement_id: str
    due_on: date
    status: Literal["scheduled", "held", "cancelled"]
    planned: Literal["cycle", "chosen"] = Field(
        description="cycle: planned by the review cycle, re-planned by a new version; chosen: by hand, kept"
    )
    held_on: date | None
    attendees: list[str]
    summary: str
    decisions: list[str]
    recorded_by: str | None
    due_notified_at: datetime | None
