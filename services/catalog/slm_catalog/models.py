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


def _created() -> Any:
    return Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))


def _json_list() -> Any:
    return Field(default_factory=list, sa_column=Column(JSON, nullable=False))


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
    tags: list[str] = _json_list()
    configuration_items: list[dict[str, Any]] = _json_list()
    version: int = 1
    created_at: datetime = _created()
    updated_at: datetime = _created()


class CatalogueGeneration(SQLModel, table=True):
    """Per tenant, a value changed by database triggers on every write of a row of `services` (migration 0006).

    Written by those triggers only: the service list keeps the pages it answered under it
    (`slm_catalog.services.router`), so a page is answered again only while nothing in `services` changed.
    """

    __tablename__ = "catalogue_generations"

    tenant: str = Field(primary_key=True, max_length=64)
    generation: str = Field(max_length=32)


class ServiceDependency(SQLModel, table=True):
    """`service_id` depends on `supporting_service_id`."""

    __tablename__ = "service_dependencies"
    __table_args__ = (UniqueConstraint("tenant", "service_id", "supporting_service_id", name="uq_dependencies_edge"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    tenant: str = Field(max_length=64, index=True)
    service_id: str = Field(foreign_key="services.id", max_length=36, index=True)
    supporting_service_id: str = Field(foreign_key="services.id", max_length=36, index=True)
    description: str = Field(default="", max_length=1000)
    created_at: datetime = _created()


class Indicator(SQLModel, table=True):
    """Something measurable (an SLI), defined by the tenant beside the built-in ones."""

    __tablename__ = "indicators"
    __table_args__ = (UniqueConstraint("tenant", "key", name="uq_indicators_tenant_key"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    tenant: str = Field(max_length=64, index=True)
    key: str = Field(max_length=64)
    name: str = Field(max_length=200)
    description: str = Field(default="", max_length=4000)
    unit: str = Field(default="", max_length=32)
    kind: str = Field(max_length=16)
    clock: str | None = Field(default=None, max_length=16)
    version: int = 1
    created_at: datetime = _created()
    updated_at: datetime = _created()


class BusinessCalendar(SQLModel, table=True):
    """Weekly business hours in a time zone with explicit and public holidays."""

    __tablename__ = "calendars"
    __table_args__ = (UniqueConstraint("tenant", "key", name="uq_calendars_tenant_key"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    tenant: str = Field(max_length=64, index=True)
    key: str = Field(max_length=64)
    name: str = Field(max_length=200)
    timezone: str = Field(default="UTC", max_length=64)
    hours: list[dict[str, str]] = _json_list()
    holidays: list[dict[str, str]] = _json_list()
    country: str | None = Field(default=None, max_length=8)
    subdivision: str | None = Field(default=None, max_length=16)
    version: int = 1
    created_at: datetime = _created()
    updated_at: datetime = _created()


class Offering(SQLModel, table=True):
    """A service-level tier of a service; publishing freezes a version, editing it drafts the next."""

    __tablename__ = "offerings"
    __table_args__ = (UniqueConstraint("tenant", "service_id", "name", "version", name="uq_offerings_tier_version"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    tenant: str = Field(max_length=64, index=True)
    service_id: str = Field(foreign_key="services.id", max_length=36, index=True)
    series_id: str = Field(default="", max_length=36, index=True)
    previous_version_id: str | None = Field(default=None, max_length=36)
    name: str = Field(max_length=100)
    description: str = Field(default="", max_length=4000)
    version: int = 1
    revision: int = 1
    status: str = Field(default="draft", max_length=16)
    price_amount: Decimal | None = Field(default=None, sa_column=Column(Numeric(18, 4), nullable=True))
    price_currency: str | None = Field(default=None, max_length=3)
    price_period: str = Field(default="month", max_length=16)
    support_calendar: str | None = Field(default=None, max_length=64)
    targets: list[dict[str, Any]] = _json_list()
    ticket_targets: list[dict[str, Any]] = _json_list()
    service_credits: list[dict[str, Any]] = _json_list()
    published_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    retired_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    created_at: datetime = _created()
    updated_at: datetime = _created()
