"""Offering API models."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer

from slm_catalog.common import Slug
from slm_shared.contracts.payloads import PriceV1
from slm_shared.contracts.targets import Target as SharedTarget
from slm_shared.terms.alerting import MAX_TIERS, BurnTier
from slm_shared.terms.credits import CreditBand
from slm_shared.terms.maintenance import MaintenanceWindow
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

    alert_policy: list[BurnTier] | None = Field(
        None, max_length=MAX_TIERS, description="burn-rate tiers to alert on; null: the SRE workbook default"
    )
    maintenance_windows: list[MaintenanceWindow] | None = Field(
        None, max_length=20, description="time the target does not count (e.g. an OpenSLO BudgetAdjustment)"
    )

    @model_serializer(mode="wrap")
    def _without_absent_terms(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """A target without a policy or maintenance windows is stored and shown as before they existed."""
        data: dict[str, Any] = handler(self)
        for name in ("alert_policy", "maintenance_windows"):
            if data.get(name) is None:
                data.pop(name, None)
        return data


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
