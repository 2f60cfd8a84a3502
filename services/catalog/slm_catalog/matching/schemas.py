"""Service level requirement and match result models."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from slm_catalog.calendars.schemas import BusinessHoursIn
from slm_catalog.offerings.schemas import Price, TicketTarget
from slm_catalog.offerings.views import Tier
from slm_catalog.services.schemas import ServiceRef
from slm_shared.contracts.targets import WantedTarget


class WantedSupportHours(BaseModel):
    model_config = ConfigDict(extra="forbid")

    timezone: str = Field("UTC", max_length=64)
    hours: list[BusinessHoursIn] = Field(min_length=1, max_length=100)


class Requirement(BaseModel):
    """What a customer needs; every part is optional, and each is checked against every current tier."""

    model_config = ConfigDict(extra="forbid")

    service_id: str | None = Field(None, max_length=36, description="only this service's tiers")
    service_key: str | None = Field(None, max_length=64, description="only this service's tiers")
    targets: list[WantedTarget] = Field(default_factory=list, max_length=50)
    ticket_targets: list[TicketTarget] = Field(default_factory=list, max_length=4)
    support_hours: WantedSupportHours | None = None
    max_price: Price | None = None


class Gap(BaseModel):
    """One requirement a tier does not meet, and by how much."""

    requirement: str = Field(description="path of what is missed, e.g. targets.0.value, targets.0.target, max_price")
    message: str
    wanted: str
    offered: str | None
    shortfall: float | None = Field(description="how far short, in `unit`; null when the tier offers nothing")
    unit: str = Field(description="`share` for targets, the indicator's unit (e.g. ms) for thresholds, ...")


class Candidate(BaseModel):
    service: ServiceRef
    tier: Tier
    meets: bool
    gaps: list[Gap]


class UnmetRequirement(BaseModel):
    """A requirement no current tier meets, with the nearest offer."""

    requirement: str
    message: str
    closest_offering_id: str | None
    shortfall: float | None
    unit: str


class MatchResult(BaseModel):
    outcome: Literal["offering", "customer_specific_service"]
    needs_customer_specific_service: bool
    matches: list[Candidate] = Field(description="tiers meeting every requirement, cheapest first")
    closest: list[Candidate] = Field(
        description="tiers that miss something, with what they miss: fewest requirements missed, then cheapest first"
    )
    unmet: list[UnmetRequirement] = Field(description="requirements that no tier meets on its own")
