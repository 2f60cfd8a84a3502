"""Offering API models."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from slm_catalog.common import Slug
from slm_shared.contracts.payloads import PriceV1
from slm_shared.contracts.targets import Target as SharedTarget
from slm_shared.terms.credits import CreditBand
from slm_shared.terms.tickets import TicketTarget

__all__ = ["CreditBand", "OfferingChanges", "OfferingCreate", "OfferingPublic", "Price", "Target", "TicketTarget"]

OfferingStatus = Literal["draft", "published", "superseded", "retired"]


class Price(PriceV1):
    model_config = ConfigDict(extra="forbid")

    amount: Decimal = Field(ge=0, max_digits=18, decimal_places=4)
    currency: str = Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code")


class Target(SharedTarget):
    """A tier's target: `op` and `value` say which events are good (thresholds); `target` the least share."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class OfferingChanges(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: str | None = Field(None, max_length=4000)
    price: Price | None = None
    support_calendar: Slug | None = Field(None, description="calendar key of the support hours; none means 24x7")
    targets: list[Target] | None = Field(None, min_length=1, max_length=100)
    ticket_targets: list[TicketTarget] | None = Field(None, max_length=4)
    service_credits: list[CreditBand] | None = Field(None, max_length=20)


class OfferingCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, description="tier name, e.g. Gold")
    description: str = Field("", max_length=4000)
    price: Price | None = None
    support_calendar: Slug | None = Field(None, description="calendar key of the support hours; none means 24x7")
    targets: list[Target] = Field(min_length=1, max_length=100)
    ticket_targets: list[TicketTarget] = Field(default_factory=list, max_length=4)
    service_credits: list[CreditBand] = Field(default_factory=list, max_length=20)


class OfferingPublic(OfferingCreate):
    model_config = ConfigDict(extra="ignore")

    id: str
    service_id: str
    series_id: str
    previous_version_id: str | None
    version: int
    revision: int
    status: OfferingStatus
    published_at: datetime | None
    retired_at: datetime | None
    created_at: datetime
    updated_at: datetime
