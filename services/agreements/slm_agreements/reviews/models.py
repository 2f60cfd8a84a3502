"""Review tables: the schedule of service reviews and what each review recorded."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Column, Date, Text
from sqlmodel import Field, SQLModel

from slm_shared.db import UTCDateTime, utcnow
from slm_shared.web.bounds import ACTOR_MAX_LENGTH


class Review(SQLModel, table=True):
    """A service review of an agreement: scheduled from its cycle, then held and recorded."""

    __tablename__ = "reviews"

    id: str = Field(primary_key=True, max_length=36)
    tenant: str = Field(max_length=64, index=True)
    agreement_id: str = Field(foreign_key="agreements.id", max_length=36, index=True)
    due_on: date = Field(sa_column=Column(Date, nullable=False, index=True))
    status: str = Field(default="scheduled", max_length=16, index=True)
    planned: str = Field(default="cycle", max_length=16, description="cycle: from the review cycle; chosen: by hand")
    held_on: date | None = Field(default=None, sa_column=Column(Date, nullable=True))
    attendees: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    summary: str = Field(default="", sa_column=Column(Text, nullable=False))
    decisions: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    recorded_by: str | None = Field(default=None, max_length=ACTOR_MAX_LENGTH)
    due_notified_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
