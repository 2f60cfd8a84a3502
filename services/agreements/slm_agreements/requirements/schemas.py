"""Requirement-to-agreement API models."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from slm_agreements.lifecycle import Kind
from slm_agreements.terms import TermsFields
from slm_shared.contracts.payloads import Comparison


class WantedTarget(BaseModel):
    model_config = ConfigDict(extra="forbid")

    indicator: str = Field(min_length=1, max_length=64)
    objective: float = Field(gt=0, le=1, description="the attainment wanted, e.g. 0.9995")
    threshold: float | None = None
    comparison: Comparison | None = None


class Requirement(BaseModel):
    """A customer's service level requirement, as the catalogue's requirement matching reads it."""

    model_config = ConfigDict(extra="allow")

    service_id: str | None = Field(None, max_length=36)
    service_key: str | None = Field(None, max_length=64)
    targets: list[WantedTarget] = Field(default_factory=list, max_length=50)


class RequirementAgreementCreate(TermsFields):
    kind: Kind = "SLA"
    name: str = Field(min_length=1, max_length=200)
    provider_party_id: str | None = Field(None, max_length=64)
    consumer_party_id: str = Field(min_length=1, max_length=64)
    requirement: Requirement
