"""Portfolio read models (catalogue services, reviews due) and drafted proposals."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from slm_measurement.models import new_id
from slm_shared.db import UTCDateTime, utcnow
from slm_shared.web.bounds import ACTOR_MAX_LENGTH


class CatalogService(SQLModel, table=True):
    """A service of the catalogue, by key, with its name (kept from the catalogue's service events)."""

    __tablename__ = "catalog_services"

    tenant: str = Field(max_length=64, primary_key=True)
    service_key: str = Field(max_length=64, primary_key=True)
    service_id: str = Field(max_length=64)
    name: str = Field(max_length=200)
    lifecycle: str = Field(default="live", max_length=16)


class PartyName(SQLModel, table=True):
    """A party's name (kept from the agreements' party events), so that documents name people, not ids."""

    __tablename__ = "party_names"

    tenant: str = Field(max_length=64, primary_key=True)
    party_id: str = Field(max_length=64, primary_key=True)
    name: str = Field(max_length=200)
    version: int = 1


class ReviewDue(SQLModel, table=True):
    """A service review announced as due, until it is held."""

    __tablename__ = "reviews_due"

    tenant: str = Field(max_length=64, primary_key=True)
    review_id: str = Field(max_length=64, primary_key=True)
    agreement_id: str = Field(max_length=64)
    agreement_name: str = Field(max_length=200)
    service_key: str = Field(max_length=64)
    consumer_party_id: str | None = Field(default=None, max_length=64)
    due_on: str = Field(max_length=10)
    held: bool = False


class Proposal(SQLModel, table=True):
    """A change for the next period drafted from trends and forecasts: a manager accepts or dismisses it."""

    __tablename__ = "portfolio_proposals"
    __table_args__ = (
        UniqueConstraint("tenant", "agreement_id", "objective_id", "kind", "period", name="uq_portfolio_proposal"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    tenant: str = Field(max_length=64, index=True)
    agreement_id: str = Field(max_length=64)
    agreement_name: str = Field(max_length=200)
    objective_id: str = Field(max_length=64)
    service_key: str = Field(max_length=64)
    consumer_party_id: str | None = Field(default=None, max_length=64)
    kind: str = Field(max_length=24, description="tier_change, amendment or improvement_action")
    period: str = Field(max_length=16, description="the period whose figures drafted it")
    reason: str = Field(max_length=1000)
    reason_key: str | None = Field(default=None, max_length=64)
    reason_params: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    evidence: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    status: str = Field(default="proposed", max_length=16)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    decided_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    decided_by: str | None = Field(default=None, max_length=ACTOR_MAX_LENGTH)
