"""Agreements tables: parties, agreements with their versions, objectives, acceptances and history."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Integer, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from slm_shared.db import UTCDateTime, utcnow
from slm_shared.web.bounds import ACTOR_MAX_LENGTH

BigIntPK = BigInteger().with_variant(Integer(), "sqlite")


def new_id() -> str:
    return str(uuid.uuid4())


class Party(SQLModel, table=True):
    """A customer, internal team or supplier that agreements are made with."""

    __tablename__ = "parties"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    tenant: str = Field(max_length=64, index=True)
    name: str = Field(max_length=200)
    kind: str = Field(max_length=16)
    contacts: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    escalation_seconds: int | None = None
    version: int = 1
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))


class Agreement(SQLModel, table=True):
    """An SLA, OLA, underpinning contract or service expectation and where it is in its lifecycle."""

    __tablename__ = "agreements"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    tenant: str = Field(max_length=64, index=True)
    kind: str = Field(max_length=16)
    name: str = Field(max_length=200)
    service_id: str = Field(max_length=64, index=True)
    service_key: str = Field(max_length=64)
    offering_id: str | None = Field(default=None, max_length=64, description="the offering of the version in force")
    offering_version: int | None = None
    provider_party_id: str | None = Field(default=None, foreign_key="parties.id", max_length=36)
    consumer_party_id: str = Field(foreign_key="parties.id", max_length=36, index=True)
    state: str = Field(default="draft", max_length=16, index=True)
    version: int = Field(default=1, description="the newest version, the one being negotiated or in force")
    in_force_version: int | None = None
    revision: int = 1
    review_cycle: str = Field(default="quarterly", max_length=16)
    standard_targets: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    requirement: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    effective_from: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    effective_to: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    created_by: str = Field(max_length=ACTOR_MAX_LENGTH)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    activated_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    ended_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    not_measured: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))


class AgreementVersion(SQLModel, table=True):
    """One version of an agreement's terms; immutable once proposed."""

    __tablename__ = "agreement_versions"

    agreement_id: str = Field(foreign_key="agreements.id", primary_key=True, max_length=36)
    version: int = Field(primary_key=True)
    tenant: str = Field(max_length=64, index=True)
    status: str = Field(default="draft", max_length=16, index=True)
    proposed_by: str | None = Field(default=None, max_length=16)
    based_on: int | None = None
    created_by: str = Field(max_length=ACTOR_MAX_LENGTH)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    effective_from: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    effective_to: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    review_cycle: str = Field(default="quarterly", max_length=16)
    renewal_notice_days: int | None = None
    timezone: str = Field(default="UTC", max_length=64)
    support_calendar: str | None = Field(default=None, max_length=64)
    price: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    ticket_targets: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    service_credits: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    maintenance_windows: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    risks: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    in_force_from: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    in_force_to: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    renewal_reminded_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    credit_terms: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    observation_terms: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    measured_scope: str | None = Field(default=None, max_length=16, description="None: service")
    offering_id: str | None = Field(default=None, max_length=64, description="the offering this version is based on")
    offering_version: int | None = None
    standard_targets: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    activated_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    ended_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))


class AgreementObjective(SQLModel, table=True):
    """One measurable objective of one agreement version."""

    __tablename__ = "agreement_objectives"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    agreement_version: int = Field(primary_key=True)
    tenant: str = Field(max_length=64)
    agreement_id: str = Field(foreign_key="agreements.id", max_length=36, index=True)
    position: int
    name: str | None = Field(default=None, max_length=200)
    customer_specific: bool = False
    indicator: str = Field(max_length=200)
    indicator_kind: str = Field(default="ratio", max_length=16)
    target: float = Field(description="the least share of good events (or slices)")
    op: str | None = Field(default=None, max_length=3, description="threshold indicators: lt, lte, gt or gte")
    value: float | None = Field(default=None, description="threshold indicators: the threshold")
    window: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    budgeting_method: str = Field(default="occurrences", max_length=32)
    timeslice_seconds: int | None = None
    timeslice_target: float | None = None
    alert_policy: list[dict[str, Any]] | None = Field(
        default=None, sa_column=Column(JSON, nullable=True), description="burn-rate tiers; None: the default policy"
    )
    maintenance_windows: list[dict[str, Any]] | None = Field(
        default=None, sa_column=Column(JSON, nullable=True), description="this objective's own maintenance windows"
    )


class AgreementAcceptance(SQLModel, table=True):
    """One side's acceptance of one agreement version."""

    __tablename__ = "agreement_acceptances"
    __table_args__ = (UniqueConstraint("agreement_id", "agreement_version", "side", name="uq_acceptance_version_side"),)

    id: int | None = Field(default=None, sa_column=Column(BigIntPK, primary_key=True, autoincrement=True))
    tenant: str = Field(max_length=64)
    agreement_id: str = Field(foreign_key="agreements.id", max_length=36, index=True)
    agreement_version: int
    side: str = Field(max_length=16)
    actor_subject: str = Field(max_length=ACTOR_MAX_LENGTH)
    actor_role: str = Field(max_length=16)
    accepted_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))


class AgreementHistory(SQLModel, table=True):
    """The audit trail: every change of an agreement, who made it, when and why."""

    __tablename__ = "agreement_history"

    id: int | None = Field(default=None, sa_column=Column(BigIntPK, primary_key=True, autoincrement=True))
    tenant: str = Field(max_length=64)
    agreement_id: str = Field(foreign_key="agreements.id", max_length=36, index=True)
    agreement_version: int
    action: str = Field(max_length=32)
    from_state: str | None = Field(default=None, max_length=16)
    to_state: str = Field(max_length=16)
    sides: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    actor_subject: str = Field(max_length=ACTOR_MAX_LENGTH)
    actor_role: str = Field(max_length=16)
    comment: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))


# Registers the sub-domain tables with the metadata the migrations read.
from slm_agreements.actions import models as _actions_models  # noqa: E402, F401
from slm_agreements.catalog import models as _catalog_models  # noqa: E402, F401
from slm_agreements.reviews import models as _reviews_models  # noqa: E402, F401
