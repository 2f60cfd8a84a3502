"""Service credits from the agreement's negotiated credit terms (see `slm_shared.terms.credits`).

A band `{below, down_to, credit_percent}` applies to an agreed objective whose attainment over the
period is below `below` and at least `down_to`; a band naming an `indicator` (or, in older events, an
`objective_id`) covers that objective only. The credit is the largest band reached by any objective
(bands do not add up), at most the agreed cap. Its base is the price of the period: the price per
month (a quarterly price / 3, a yearly one / 12) times the months reported (a range counts its days /
30 months); when the agreement was in force for only part of the period, the `pro_rata` rule takes
that share of it and the `full` rule the whole. Amounts round half-up to cents.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from slm_shared.terms.credits import CENT, CreditTerms

PER_MONTH = {"month": Decimal(1), "quarter": Decimal(3), "year": Decimal(12)}


@dataclass(frozen=True)
class Credit:
    percent: Decimal
    objective_id: str | None
    attainment: float | None
    base: Decimal | None
    amount: Decimal | None
    currency: str | None
    cap_percent: Decimal = Decimal(100)
    partial_period: str = "pro_rata"
    in_force_share: Decimal = Decimal(1)


@dataclass(frozen=True)
class Attained:
    """One agreed objective's attainment over the period, with the indicator bands may name."""

    objective_id: str
    indicator: str
    attainment: float | None


def covers(band: dict[str, Any], objective: Attained) -> bool:
    """Whether the band is owed on this objective (one naming none covers every agreed objective)."""
    return band.get("objective_id") in (None, objective.objective_id) and band.get("indicator") in (
        None,
        objective.indicator,
    )


def band_percent(objective: Attained, bands: Iterable[dict[str, Any]]) -> Decimal:
    """The largest credit share of the bands this objective's attainment falls into."""
    found = Decimal(0)
    if objective.attainment is None:
        return found
    for band in bands:
        if covers(band, objective) and float(band.get("down_to", 0.0)) <= objective.attainment < float(band["below"]):
            found = max(found, Decimal(str(band["credit_percent"])))
    return found


def period_price(price: dict[str, Any] | None, *, months: int | None, seconds: float) -> Decimal | None:
    """The price of the whole reported period."""
    if not price:
        return None
    monthly = Decimal(str(price["amount"])) / PER_MONTH[price.get("period", "month")]
    count = Decimal(months) if months is not None else Decimal(str(seconds)) / Decimal(30 * 86400)
    return (monthly * count).quantize(CENT, rounding=ROUND_HALF_UP)


def credit_owed(
    objectives: list[Attained],
    bands: list[dict[str, Any]],
    price: dict[str, Any] | None,
    *,
    months: int | None,
    seconds: float,
    terms: CreditTerms | None = None,
    in_force_share: Decimal = Decimal(1),
) -> Credit:
    """The credit for the period: the worst band any agreed objective reached, capped, on the period's price."""
    terms = terms or CreditTerms()
    percent, worst, value = Decimal(0), None, None
    for objective in sorted(objectives, key=lambda o: o.objective_id):
        share = band_percent(objective, bands)
        if share > percent:
            percent, worst, value = share, objective.objective_id, objective.attainment
    percent = min(percent, terms.cap_percent)
    whole = period_price(price, months=months, seconds=seconds)
    base = whole
    if whole is not None and terms.partial_period == "pro_rata":
        base = (whole * in_force_share).quantize(CENT, rounding=ROUND_HALF_UP)
    amount = (base * percent / 100).quantize(CENT, rounding=ROUND_HALF_UP) if base is not None else None
    return Credit(
        percent,
        worst,
        value,
        base,
        amount,
        price.get("currency") if price else None,
        terms.cap_percent,
        terms.partial_period,
        in_force_share,
    )
