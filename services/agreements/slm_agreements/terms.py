"""The terms an agreement version holds beyond its objectives, as API input, with their pure checks."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from slm_shared import calendars
from slm_shared.contracts.payloads import PriceV1
from slm_shared.terms.credits import CreditBand, CreditTerms
from slm_shared.terms.maintenance import MaintenanceWindow
from slm_shared.terms.observations import MeasuredScope, ObservationTerms
from slm_shared.terms.tickets import TicketTarget, priority_problem
from slm_shared.web.bounds import BoundedDatetime

__all__ = [
    "CreditBand",
    "CreditTerms",
    "MaintenanceWindow",
    "MeasuredScope",
    "ObservationTerms",
    "Price",
    "TermsFields",
    "TicketTarget",
]

ReviewCycle = Literal["monthly", "quarterly", "yearly"]


def _zone(name: str) -> str:
    try:
        calendars.check_timezone(name)
    except ValueError as exc:
        raise ValueError(str(exc)) from exc
    return name


class Price(PriceV1):
    model_config = ConfigDict(extra="forbid")

    amount: Decimal = Field(ge=0, max_digits=18, decimal_places=4)
    currency: str = Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code")


class TermsFields(BaseModel):
    """Terms beyond the objectives; every field optional, so the same model serves creation and changes."""

    model_config = ConfigDict(extra="forbid")

    effective_from: BoundedDatetime | None = None
    effective_to: BoundedDatetime | None = None
    review_cycle: ReviewCycle | None = None
    renewal_notice_days: int | None = Field(None, ge=0, le=3650, description="notice to give before the end")
    timezone: str | None = Field(None, max_length=64)
    support_calendar: str | None = Field(None, max_length=64, description="catalogue calendar key; none is 24x7")
    price: Price | None = None
    ticket_targets: list[TicketTarget] | None = Field(None, max_length=4)
    service_credits: list[CreditBand] | None = Field(None, max_length=20)
    maintenance_windows: list[MaintenanceWindow] | None = Field(None, max_length=100)
    credit_terms: CreditTerms | None = None
    observation_terms: ObservationTerms | None = Field(
        None, description="how customer observations count; none: recorded and shown, not counted"
    )
    measured_scope: MeasuredScope | None = Field(
        None, description="service (every scope summed, the default) or customer (the consumer party's scope only)"
    )

    @field_validator("timezone")
    @classmethod
    def _check_zone(cls, value: str | None) -> str | None:
        return None if value is None else _zone(value)

    @field_validator("ticket_targets")
    @classmethod
    def _one_per_priority(cls, value: list[TicketTarget] | None) -> list[TicketTarget] | None:
        if problem := priority_problem(value):
            raise ValueError(problem)
        return value


def date_problems(
    effective_from: datetime, effective_to: datetime | None, renewal_notice_days: int | None
) -> dict[str, str]:
    """Field to reason for dates that do not fit together."""
    problems: dict[str, str] = {}
    if effective_to is not None and effective_to <= effective_from:
        problems["effective_to"] = "must be after effective_from"
    elif effective_to is not None and (effective_to - effective_from).days < (renewal_notice_days or 0):
        problems["renewal_notice_days"] = "the notice period is longer than the whole term"
    return problems
