"""The local read model of the catalogue: services, offerings, indicators, calendars and dependencies."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from slm_shared.db import UTCDateTime


class CatalogService(SQLModel, table=True):
    """Read model of a catalogue service, fed by catalog events or fetched over REST."""

    __tablename__ = "catalog_services"

    tenant: str = Field(max_length=64, primary_key=True)
    id: str = Field(max_length=64, primary_key=True)
    key: str = Field(max_length=64)
    name: str = Field(max_length=200)
    type: str = Field(default="business", max_length=16)
    lifecycle: str = Field(default="live", max_length=16)
    observed_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class CatalogOffering(SQLModel, table=True):
    """Read model of a published offering (tier) with the targets it promises."""

    __tablename__ = "catalog_offerings"

    tenant: str = Field(max_length=64, primary_key=True)
    id: str = Field(max_length=64, primary_key=True)
    service_id: str = Field(max_length=64, index=True)
    service_key: str = Field(max_length=64)
    name: str = Field(max_length=100)
    version: int = 1
    price: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    targets: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    support_calendar: str | None = Field(default=None, max_length=64)
    ticket_targets: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    service_credits: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    status: str = Field(default="published", max_length=16)
    source: str = Field(default="event", max_length=16)
    observed_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class CatalogIndicator(SQLModel, table=True):
    """Read model of an indicator the catalogue defines, and its kind."""

    __tablename__ = "catalog_indicators"

    tenant: str = Field(max_length=64, primary_key=True)
    key: str = Field(max_length=64, primary_key=True)
    kind: str = Field(max_length=16)
    deleted: bool = False
    source: str = Field(default="event", max_length=16)
    observed_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class CatalogCalendar(SQLModel, table=True):
    """Read model of a support calendar (hours in a time zone, holidays)."""

    __tablename__ = "catalog_calendars"

    tenant: str = Field(max_length=64, primary_key=True)
    key: str = Field(max_length=64, primary_key=True)
    document: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    deleted: bool = False
    source: str = Field(default="event", max_length=16)
    observed_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class CatalogDependency(SQLModel, table=True):
    """Read model of one edge of the catalogue's dependency graph: a service runs on a supporting one."""

    __tablename__ = "catalog_dependencies"

    tenant: str = Field(max_length=64, primary_key=True)
    service_id: str = Field(max_length=64, primary_key=True)
    supporting_service_id: str = Field(max_length=64, primary_key=True)
    service_key: str = Field(max_length=64)
    supporting_service_key: str = Field(max_length=64)
    observed_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
