"""Measurement tables: the objectives read model and the event-count buckets."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Column, Double, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from slm_shared.db import UTCDateTime, utcnow


def new_id() -> str:
    return str(uuid.uuid4())


class Objective(SQLModel, table=True):
    """One objective of an active agreement, with the outcome of its latest evaluation."""

    __tablename__ = "objectives"
    __table_args__ = (
        UniqueConstraint("tenant", "agreement_id", "objective_id", name="uq_objectives_agreement_objective"),
        Index("ix_objectives_series", "tenant", "service_key", "indicator"),
        Index("ix_objectives_due", "active", "needs_evaluation", "evaluated_at"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    tenant: str = Field(max_length=64, index=True)
    agreement_id: str = Field(max_length=64)
    agreement_version: int
    agreement_kind: str = Field(max_length=16)
    objective_id: str = Field(max_length=64)
    name: str | None = Field(default=None, max_length=200)
    service_key: str = Field(max_length=64)
    indicator: str = Field(max_length=128)
    indicator_kind: str = Field(default="ratio", max_length=16)
    objective: float
    comparison: str = Field(default=">=", max_length=2)
    window_kind: str = Field(max_length=16)
    window_duration: str | None = Field(default=None, max_length=16)
    window_unit: str | None = Field(default=None, max_length=16)
    window_timezone: str = Field(default="UTC", max_length=64)
    budgeting_method: str = Field(default="occurrences", max_length=32)
    consumer_party_id: str | None = Field(default=None, max_length=64, index=True)
    active: bool = True
    status: str = Field(default="no_data", max_length=16)
    last_event: str | None = Field(default=None, max_length=16, description="last transition reported")
    attainment: float | None = None
    good: float = 0.0
    total: float = 0.0
    window_start: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    window_end: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    needs_evaluation: bool = True
    evaluated_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))


class MinuteBucket(SQLModel, table=True):
    """Good and total events of one series in one minute (`minute` counts minutes since the epoch)."""

    __tablename__ = "minute_buckets"

    tenant: str = Field(max_length=64, primary_key=True)
    service: str = Field(max_length=64, primary_key=True)
    indicator: str = Field(max_length=128, primary_key=True)
    scope: str = Field(default="", max_length=128, primary_key=True)
    minute: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    good: float = Field(sa_column=Column(Double, nullable=False))
    total: float = Field(sa_column=Column(Double, nullable=False))


class HourBucket(SQLModel, table=True):
    """The hourly rollup of minute buckets (`hour` counts hours since the epoch)."""

    __tablename__ = "hour_buckets"

    tenant: str = Field(max_length=64, primary_key=True)
    service: str = Field(max_length=64, primary_key=True)
    indicator: str = Field(max_length=128, primary_key=True)
    scope: str = Field(default="", max_length=128, primary_key=True)
    hour: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    good: float = Field(sa_column=Column(Double, nullable=False))
    total: float = Field(sa_column=Column(Double, nullable=False))


class DayBucket(SQLModel, table=True):
    """The daily (UTC day) rollup of minute buckets (`day` counts days since the epoch)."""

    __tablename__ = "day_buckets"

    tenant: str = Field(max_length=64, primary_key=True)
    service: str = Field(max_length=64, primary_key=True)
    indicator: str = Field(max_length=128, primary_key=True)
    scope: str = Field(default="", max_length=128, primary_key=True)
    day: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    good: float = Field(sa_column=Column(Double, nullable=False))
    total: float = Field(sa_column=Column(Double, nullable=False))
