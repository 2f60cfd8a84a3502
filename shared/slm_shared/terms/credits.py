"""Service credits as a term: the bands, which objective each covers, the cap and the partial-period rule.

A band `{below, down_to, credit_percent, indicator}` is owed when the attainment of an agreed objective
over the period is below `below` and at least `down_to`. A band naming an `indicator` covers only the
agreement's objectives on that indicator; a band naming none covers every agreed objective. The
credit of a period is the largest band reached (bands do not add up), at most `cap_percent`. For a
period only partly under the agreement, `partial_period` says how the base price is taken:
`pro_rata` (the price of the time in force) or `full` (the whole period's price).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from slm_shared.contracts.payloads import ServiceCreditBandV1

PartialPeriod = Literal["pro_rata", "full"]
CENT = Decimal("0.01")


class CreditBand(ServiceCreditBandV1):
    """One band of a credit schedule."""

    model_config = ConfigDict(extra="forbid")

    below: float = Field(gt=0, le=1, description="the band applies when attainment is below this")
    down_to: float = Field(0.0, ge=0, lt=1, description="and at least this")
    credit_percent: Decimal = Field(gt=0, le=100, max_digits=5, decimal_places=2, description="share of the price")
    indicator: str | None = Field(
        None, min_length=1, max_length=200, description="the objective's indicator; none covers every objective"
    )

    @model_validator(mode="after")
    def _band(self) -> CreditBand:
        if self.down_to >= self.below:
            raise ValueError("down_to must be below `below`")
        return self


class CreditTerms(BaseModel):
    """How the credit of a period is bounded and priced."""

    model_config = ConfigDict(extra="forbid")

    cap_percent: Decimal = Field(
        Decimal(100), gt=0, le=100, max_digits=5, decimal_places=2, description="most credit owed for one period"
    )
    partial_period: PartialPeriod = Field(
        "pro_rata", description="a period partly in force: price of the time in force, or of the whole period"
    )


def indicator_problems(bands: Sequence[CreditBand], indicators: set[str]) -> dict[str, str]:
    """Band index to reason, for bands naming an indicator no objective of the agreement measures."""
    return {
        str(index): f"no objective of this agreement measures {band.indicator!r}"
        for index, band in enumerate(bands)
        if band.indicator is not None and band.indicator not in indicators
    }


def money(amount: Decimal) -> str:
    """An amount as every API and event shows it: a plain decimal with two places, rounded half-up."""
    return str(amount.quantize(CENT, rounding=ROUND_HALF_UP))
