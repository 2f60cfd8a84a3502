"""Catalog tables."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Column, Numeric, UniqueConstraint
from sqlmodel import Field, SQLModel

from slm_shared.db import UTCDateTime, utcnow


def new_id() -> str:
    return str(uuid.uuid4())


class Service(SQLModel, table=True):
    __tablename__ = "services"
    __table_args__ = (UniqueConstraint("tenant", "key", name="uq_services_tenant_key"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    tenant: str = Field(max_length=64, index=True)
    key: str = Field(max_length=64)
    name: str = Field(max_length=200)
    description: str = Field(default="", max_length=4000)
    type: str = Field(default="business", max_length=16)
    lifecycle: str = Field(default="live", max_length=16)
    owner_team: str | None = Field(default=None, max_length=200)
    owner_contact: str | None = Field(default=None, max_length=320)
    tags: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    version: int = 1
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))


class Offering(SQLModel, table=True):
    """A service-level tier of a service; publishing freezes a version."""

    __tablename__ = "offerings"
    __table_args__ = (UniqueConstraint("tenant", "service_id", "name", "version", name="uq_offerings_tier_version"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    tenant: str = Field(max_length=64, index=True)
    service_id: str = Field(foreign_key="services.id", max_length=36, index=True)
    name: str = Field(max_length=100)
    description: str = Field(default="", max_length=4000)
    version: int = 1
    status: str = Field(default="draft", max_length=16)
    price_amount: Decimal | None = Field(default=None, sa_column=Column(Numeric(18, 4), nullable=True))
    price_currency: str | None = Field(default=None, max_length=3)
    price_period: str = Field(default="month", max_length=16)
    targets: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    published_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
