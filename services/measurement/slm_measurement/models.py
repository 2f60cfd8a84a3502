"""Measurement tables: objectives read model, transitions, event-count buckets and value histograms."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Column, Double, Index, UniqueConstraint
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
        Index("ix_objectives_lookup", "tenant", "objective_id"),  # GET /v1/objectives/{id}
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
    target: float = Field(description="the least share of good events (or slices)")
    op: str | None = Field(default=None, max_length=3, description="threshold indicators: lt, lte, gt or gte")
    window_kind: str = Field(max_length=16)
    window_duration: str | None = Field(default=None, max_length=16)
    window_unit: str | None = Field(default=None, max_length=16)
    window_timezone: str = Field(default="UTC", max_length=64)
    budgeting_method: str = Field(default="occurrences", max_length=32)
    value: float | None = Field(default=None, description="threshold indicators: the threshold")
    timeslice_seconds: int | None = None
    timeslice_target: float | None = None
    maintenance_windows: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    alert_policy: list[dict[str, Any]] | None = Field(
        default=None, sa_column=Column(JSON, nullable=True), description="burn tiers; None is the default policy"
    )
    forecast_lookbacks: list[str] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    at_risk_rule: str | None = Field(default=None, max_length=16, description="None: any_forecast")
    effective_from: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    effective_to: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    consumer_party_id: str | None = Field(default=None, max_length=64, index=True)
    scope: str | None = Field(default=None, max_length=128, description="the series scope measured; None: every scope")
    observed: list[dict[str, Any]] = Field(
        default_factory=list,
        sa_column=Column(JSON, nullable=False, server_default="[]"),
        description="customer-observed spans counted as bad time ([{start, end}], whole minutes)",
    )
    active: bool = True
    ended: bool = Field(default=False, description="its agreement ended or expired: never evaluated again")
    status: str = Field(default="no_data", max_length=16)
    last_event: str | None = Field(default=None, max_length=16, description="last transition reported")
    attainment: float | None = None
    good: float = 0.0
    total: float = 0.0
    details: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False), description="budget, burn rates, alerts, forecast"
    )
    firing_alerts: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    window_start: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    window_end: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    needs_evaluation: bool = True
    evaluated_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))


class MinuteBucket(SQLModel, table=True):
    """Good and total events of one series in one minute (`minute` counts minutes since the epoch).

    The key puts the time before `scope`, so a range of one series (all scopes) is one index seek:
    reading a window costs the same whatever history is stored before it.
    """

    __tablename__ = "minute_buckets"

    tenant: str = Field(max_length=64, primary_key=True)
    service: str = Field(max_length=64, primary_key=True)
    indicator: str = Field(max_length=128, primary_key=True)
    minute: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    scope: str = Field(default="", max_length=128, primary_key=True)
    good: float = Field(sa_column=Column(Double, nullable=False))
    total: float = Field(sa_column=Column(Double, nullable=False))


class HourBucket(SQLModel, table=True):
    """The hourly rollup of minute buckets (`hour` counts hours since the epoch).

    `changes` counts the batches that wrote the hour (raised in the transaction that adds them to its
    minutes): a cached slice tally remembers the sum it was computed from and is computed again once
    it moved, so late data is counted however recent the hour.
    """

    __tablename__ = "hour_buckets"

    tenant: str = Field(max_length=64, primary_key=True)
    service: str = Field(max_length=64, primary_key=True)
    indicator: str = Field(max_length=128, primary_key=True)
    hour: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    scope: str = Field(default="", max_length=128, primary_key=True)
    good: float = Field(sa_column=Column(Double, nullable=False))
    total: float = Field(sa_column=Column(Double, nullable=False))
    changes: int = Field(default=1, sa_column=Column(BigInteger, nullable=False, server_default="1"))


class DayBucket(SQLModel, table=True):
    """The daily (UTC day) rollup of minute buckets (`day` counts days since the epoch)."""

    __tablename__ = "day_buckets"

    tenant: str = Field(max_length=64, primary_key=True)
    service: str = Field(max_length=64, primary_key=True)
    indicator: str = Field(max_length=128, primary_key=True)
    day: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    scope: str = Field(default="", max_length=128, primary_key=True)
    good: float = Field(sa_column=Column(Double, nullable=False))
    total: float = Field(sa_column=Column(Double, nullable=False))


class ObjectiveTransition(SQLModel, table=True):
    """A change of an objective's status (the timeline)."""

    __tablename__ = "objective_transitions"
    __table_args__ = (Index("ix_objective_transitions_objective", "tenant", "objective_row_id", "at"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    tenant: str = Field(max_length=64)
    objective_row_id: str = Field(max_length=36)
    at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    from_status: str = Field(max_length=16)
    to_status: str = Field(max_length=16)
    event: str | None = Field(default=None, max_length=32, description="the event reported, if any")
    attainment: float | None = None
    expected_attainment: float | None = None


class PendingActivation(SQLModel, table=True):
    """An agreement version that takes effect later; applied by the evaluator at its instant."""

    __tablename__ = "pending_activations"
    __table_args__ = (UniqueConstraint("tenant", "agreement_id", "version", name="uq_pending_activation"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    tenant: str = Field(max_length=64)
    agreement_id: str = Field(max_length=64)
    version: int
    effective_from: datetime = Field(sa_column=Column(UTCDateTime, nullable=False, index=True))
    payload: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))


class SliceTally(SQLModel, table=True):
    """One objective's good and counted timeslices in one span of whole hours (a per-objective rollup).

    `start` counts minutes since the epoch; the span holds whole slices (see `slices`). `marker` is
    the sum of its hours' `changes` when it was computed; `final` once no point for it can still arrive.
    Deleted when the objective's definition changes, and by retention once no window reads it.
    """

    __tablename__ = "slice_tallies"

    objective_row_id: str = Field(max_length=36, primary_key=True)
    start: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    tenant: str = Field(max_length=64)
    good: float = Field(sa_column=Column(Double, nullable=False))
    total: float = Field(sa_column=Column(Double, nullable=False))
    marker: int = Field(sa_column=Column(BigInteger, nullable=False))
    final: bool = Field(sa_column=Column(Boolean, nullable=False))


def _bin_table(name: str, index_column: str, doc: str) -> type[SQLModel]:
    namespace: dict[str, Any] = {
        "__doc__": doc,
        "__tablename__": name,
        "__annotations__": {
            "tenant": str,
            "service": str,
            "indicator": str,
            index_column: int,
            "scope": str,
            "bin": int,
            "samples": float,
        },
        "tenant": Field(max_length=64, primary_key=True),
        "service": Field(max_length=64, primary_key=True),
        "indicator": Field(max_length=128, primary_key=True),
        index_column: Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False)),
        "scope": Field(default="", max_length=128, primary_key=True),
        "bin": Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False)),
        "samples": Field(sa_column=Column(Double, nullable=False)),
    }
    return type(name.title().replace("_", ""), (SQLModel,), namespace, table=True)


MinuteValueBin = _bin_table(
    "minute_value_bins", "minute", "Samples per log-scale bin of one value series in one minute."
)
HourValueBin = _bin_table("hour_value_bins", "hour", "The hourly rollup of minute value bins.")
DayValueBin = _bin_table("day_value_bins", "day", "The daily (UTC) rollup of minute value bins.")
