"""The catalogue as one document, for bulk export and import (YAML or JSON)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from slm_catalog.calendars.schemas import CalendarCreate
from slm_catalog.common import Slug
from slm_catalog.indicators.schemas import IndicatorCreate
from slm_catalog.offerings.schemas import OfferingCreate, OfferingStatus
from slm_catalog.services.schemas import ServiceCreate
from slm_shared.contracts.targets import from_v1

FORMAT: Literal["slm-catalog/v1"] = "slm-catalog/v1"


class DependencyEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    service: Slug = Field(description="key of the supporting service")
    description: str = Field("", max_length=1000)


class OfferingEntry(OfferingCreate):
    version: int = Field(1, ge=1)
    status: OfferingStatus = "draft"
    published_at: datetime | None = None
    retired_at: datetime | None = None

    @model_validator(mode="before")
    @classmethod
    def _targets_of_the_first_shape(cls, data: Any) -> Any:
        """Documents exported before `target`/`op`/`value` still import, their meaning kept."""
        if isinstance(data, dict) and isinstance(data.get("targets"), list):
            data = {**data, "targets": [from_v1(t) if isinstance(t, dict) else t for t in data["targets"]]}
        return data


class ServiceEntry(ServiceCreate):
    depends_on: list[DependencyEntry] = Field(default_factory=list, max_length=200)
    offerings: list[OfferingEntry] = Field(default_factory=list, max_length=200)


class CatalogDocument(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: Literal["slm-catalog/v1"] = FORMAT
    indicators: list[IndicatorCreate] = Field(default_factory=list, max_length=1000)
    calendars: list[CalendarCreate] = Field(default_factory=list, max_length=1000)
    services: list[ServiceEntry] = Field(default_factory=list, max_length=5000)


class ImportSummary(BaseModel):
    indicators: int
    calendars: int
    services: int
    dependencies: int
    offerings: int
