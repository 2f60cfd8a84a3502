"""Improvement action table."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column, Date, Text
from sqlmodel import Field, SQLModel

from slm_shared.db import UTCDateTime, utcnow
from slm_shared.web.bounds import ACTOR_MAX_LENGTH


class ImprovementAction(SQLModel, table=True):
    """Something to do to improve (or restore) a service level: from a review, a breach or by hand."""

    __tablename__ = "improvement_actions"

    id: str = Field(primary_key=True, max_length=36)
    tenant: str = Field(max_length=64, index=True)
    agreement_id: str = Field(foreign_key="agreements.id", max_length=36, index=True)
    title: str = Field(max_length=200)
    # A title the platform wrote: its message key and parameters, rendered in each reader's language
    # (`title` keeps the English text, for rows written before and for readers of the stored value).
    title_key: str | None = Field(default=None, max_length=64)
    title_params: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    description: str = Field(default="", sa_column=Column(Text, nullable=False))
    description_key: str | None = Field(default=None, max_length=64)
    description_params: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    owner: str = Field(max_length=200)
    owner_email: str | None = Field(default=None, max_length=320)
    owner_party_id: str | None = Field(default=None, max_length=36)
    due_on: date = Field(sa_column=Column(Date, nullable=False, index=True))
    status: str = Field(default="open", max_length=16, index=True)
    source: str = Field(default="manual", max_length=16)
    objective_id: str | None = Field(default=None, max_length=36)
    review_id: str | None = Field(default=None, foreign_key="reviews.id", max_length=36)
    breach_ref: str | None = Field(default=None, max_length=200)
    overdue_notified_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    change_requested_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    change_request_id: str | None = Field(default=None, max_length=36)
    change_status: str | None = Field(default=None, max_length=32)
    change_ref: str | None = Field(default=None, max_length=200)
    change_system: str | None = Field(default=None, max_length=32)
    change_status_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    created_by: str = Field(max_length=ACTOR_MAX_LENGTH)
    revision: int = 1
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
