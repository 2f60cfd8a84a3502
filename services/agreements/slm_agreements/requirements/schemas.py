"""Requirement-to-agreement API models."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from slm_agreements.lifecycle import Kind
from slm_agreements.terms import TermsFields
from slm_shared.contracts.targets import WantedTarget


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
    offering_id: str | None = Field(
        None, max_length=64, description="the tier chosen; none: the cheapest tier that meets the most requirements"
    )
    requirement: Requirement
