"""Indicator API models."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from slm_catalog.common import Slug
from slm_catalog.indicators.builtin import MEASUREMENT_DATA, IndicatorDefinition
from slm_shared.contracts.payloads import IndicatorKind

Clock = Literal["response", "resolution"]


class IndicatorCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: Slug
    name: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=4000)
    unit: str = Field("", max_length=32)
    kind: IndicatorKind
    clock: Clock | None = Field(None, description="for ticket_time: which ticket clock it measures")


class IndicatorUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=4000)
    unit: str | None = Field(None, max_length=32)


class MeasurementData(BaseModel):
    """The data the measurement service needs to measure an indicator of this kind."""

    fields: list[str]
    description: str


class IndicatorPublic(BaseModel):
    id: str | None
    key: str
    name: str
    description: str
    unit: str
    kind: IndicatorKind
    clock: Clock | None
    builtin: bool
    version: int
    measurement: MeasurementData

    @classmethod
    def of(cls, item: IndicatorDefinition) -> IndicatorPublic:
        fields, description = MEASUREMENT_DATA[item.kind]
        return cls.model_validate(
            {
                "id": item.id,
                "key": item.key,
                "name": item.name,
                "description": item.description,
                "unit": item.unit,
                "kind": item.kind,
                "clock": item.clock,
                "builtin": item.builtin,
                "version": item.version,
                "measurement": {"fields": list(fields), "description": description},
            }
        )
