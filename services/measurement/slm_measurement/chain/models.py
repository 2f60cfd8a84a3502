"""The dependency graph as measurement keeps it, from the catalogue's dependency events."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column
from sqlmodel import Field, SQLModel

from slm_shared.db import UTCDateTime, utcnow


class ServiceDependency(SQLModel, table=True):
    """`service_key` runs on `supporting_key` (one edge of the catalogue's graph)."""

    __tablename__ = "service_dependencies"

    tenant: str = Field(max_length=64, primary_key=True)
    service_key: str = Field(max_length=64, primary_key=True)
    supporting_key: str = Field(max_length=64, primary_key=True)
    added_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
