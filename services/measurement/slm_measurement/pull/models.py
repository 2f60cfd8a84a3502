"""Data sources the measurement service pulls from, and the series it pulls with their last outcome."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from slm_shared.db import UTCDateTime, utcnow
from slm_shared.terms.openslo_credentials import URL_MAX_LENGTH

OK, SOURCE_DOWN, QUERY_ERROR, NO_DATA, PENDING = "ok", "source_down", "query_error", "no_data", "pending"


def _id() -> str:
    return str(uuid.uuid4())


class DataSource(SQLModel, table=True):
    """An OpenSLO DataSource of type prometheus: where to query, and how to authenticate."""

    __tablename__ = "data_sources"
    __table_args__ = (UniqueConstraint("tenant", "name", name="uq_data_sources_name"),)

    id: str = Field(default_factory=_id, primary_key=True, max_length=36)
    tenant: str = Field(max_length=64, index=True)
    name: str = Field(max_length=63)
    type: str = Field(default="prometheus", max_length=32)
    url: str = Field(max_length=URL_MAX_LENGTH)
    auth_header: str | None = Field(default=None, max_length=4000)
    # whether auth_header was read from the variables an OpenSLO apply named: an apply naming none clears it
    auth_from_env: bool = False
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    # the time of the OpenSLO apply that last set it (its event's time), so an older apply changes nothing
    applied_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    # when the OpenSLO document that defined it was deleted: not queried from then on
    stopped_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))


class PulledSeries(SQLModel, table=True):
    """A series measured by PromQL: good and total queries (ratio) or one value query (threshold)."""

    __tablename__ = "pulled_series"
    __table_args__ = (UniqueConstraint("tenant", "service_key", "indicator", name="uq_pulled_series_series"),)

    id: str = Field(default_factory=_id, primary_key=True, max_length=36)
    tenant: str = Field(max_length=64, index=True)
    data_source_id: str = Field(max_length=36, index=True)
    service_key: str = Field(max_length=64)
    indicator: str = Field(max_length=128)
    good_query: str | None = Field(default=None, max_length=4000)
    total_query: str | None = Field(default=None, max_length=4000)
    value_query: str | None = Field(default=None, max_length=4000)
    step_seconds: int = 60
    covered_from: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    applied_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    # when the OpenSLO document that wired it was deleted: not pulled from then on, its points stay
    stopped_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    pulled_until: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    state: str = Field(default=PENDING, max_length=16)
    detail: str = Field(default="", max_length=2000)
    checked_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))


class RemovedSeries(SQLModel, table=True):
    """A series an OpenSLO deletion named before any apply created it (the apply was delivered later): an apply
    older than `removed_at` does not create it, a newer one does."""

    __tablename__ = "openslo_removed_series"

    tenant: str = Field(max_length=64, primary_key=True)
    service_key: str = Field(max_length=64, primary_key=True)
    indicator: str = Field(max_length=128, primary_key=True)
    removed_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    # when the deletion was consumed here: a series made over the API after it is not an older apply's to take over
    consumed_at: datetime | None = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=True))


class RemovedDataSource(SQLModel, table=True):
    """A data source an OpenSLO deletion named before any apply made it the documents' (the apply was delivered
    later): an apply older than `removed_at` does not create it, and one taking over a source registered over the
    API stops it at once."""

    __tablename__ = "openslo_removed_data_sources"

    tenant: str = Field(max_length=64, primary_key=True)
    name: str = Field(max_length=63, primary_key=True)
    removed_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    # when the deletion was consumed here: a source registered over the API after it is not an older apply's to take
    consumed_at: datetime | None = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=True))
