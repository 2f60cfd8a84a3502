"""Observation tables: an observation is never edited or deleted; annotations are added beside it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column, Index
from sqlmodel import Field, SQLModel

from slm_measurement.models import new_id
from slm_shared.db import UTCDateTime, utcnow
from slm_shared.terms.openslo_credentials import URL_MAX_LENGTH
from slm_shared.web.bounds import ACTOR_MAX_LENGTH


class Observation(SQLModel, table=True):
    """What a customer observed on an agreement, from when to when; only its withdrawal is ever added."""

    __tablename__ = "observations"
    __table_args__ = (Index("ix_observations_agreement", "tenant", "agreement_id", "start"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    tenant: str = Field(max_length=64)
    agreement_id: str = Field(max_length=64)
    agreement_version: int
    service_key: str = Field(max_length=64)
    consumer_party_id: str | None = Field(default=None, max_length=64)
    kind: str = Field(max_length=16)
    summary: str = Field(max_length=2000)
    start: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    end: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    objective_ids: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    impact: str = Field(max_length=16)
    reference: str | None = Field(default=None, max_length=200)
    counts: bool = Field(description="whether the terms in force at its start count it")
    recorded_by: str = Field(max_length=ACTOR_MAX_LENGTH)
    on_behalf: bool = Field(default=False, description="recorded by the provider on the customer's behalf")
    recorded_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    withdrawn_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    withdrawn_by: str | None = Field(default=None, max_length=ACTOR_MAX_LENGTH)


class ObservationAnnotation(SQLModel, table=True):
    """The provider's note on an observation: evidence, cause, linked incident or problem."""

    __tablename__ = "observation_annotations"
    __table_args__ = (Index("ix_observation_annotations_observation", "tenant", "observation_id"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    tenant: str = Field(max_length=64)
    observation_id: str = Field(max_length=36)
    note: str = Field(max_length=4000)
    cause: str | None = Field(default=None, max_length=500)
    incident_ref: str | None = Field(default=None, max_length=200)
    problem_ref: str | None = Field(default=None, max_length=200)
    evidence_url: str | None = Field(default=None, max_length=URL_MAX_LENGTH)
    author: str = Field(max_length=ACTOR_MAX_LENGTH)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
