"""Catalog API models."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from slm_shared.contracts.payloads import PriceV1, TargetV1

Slug = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$", description="lowercase slug, unique per tenant")
ServiceType = Literal["business", "technical"]
Lifecycle = Literal["pipeline", "live", "retired"]


class ServiceBase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=4000)
    type: ServiceType = "business"
    lifecycle: Lifecycle = "live"
    owner_team: str | None = Field(None, max_length=200)
    owner_contact: str | None = Field(None, max_length=320)
    tags: list[str] = Field(default_factory=list, max_length=50)


class ServiceCreate(ServiceBase):
    key: str = Slug


class ServiceUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=4000)
    type: ServiceType | None = None
    lifecycle: Lifecycle | None = None
    owner_team: str | None = Field(None, max_length=200)
    owner_contact: str | None = Field(None, max_length=320)
    tags: list[str] | None = Field(None, max_length=50)


class ServicePublic(ServiceBase):
    model_config = ConfigDict(from_attributes=True)

    id: str
    key: str
    version: int
    created_at: datetime
    updated_at: datetime


class Price(PriceV1):
    model_config = ConfigDict(extra="forbid")

    amount: Decimal = Field(ge=0, max_digits=18, decimal_places=4)
    currency: str = Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code")


class Target(TargetV1):
    model_config = ConfigDict(extra="forbid")

    objective: float = Field(gt=0, le=1, description="target attainment as a fraction, e.g. 0.999")


class OfferingCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, description="tier name, e.g. Gold")
    description: str = Field("", max_length=4000)
    price: Price | None = None
    targets: list[Target] = Field(min_length=1, max_length=100)


class OfferingPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    service_id: str
    name: str
    description: str
    version: int
    status: str
    price: Price | None
    targets: list[Target]
    published_at: datetime | None
    created_at: datetime
