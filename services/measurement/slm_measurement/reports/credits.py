"""Service credits from a credit schedule: bands of attainment, each owing a share of the period's price.

A band `{below, down_to, credit_percent}` applies to an objective whose attainment over the period
is below `below` and at least `down_to`; a band naming an `objective_id` applies to that objective
only. The credit is the largest band that applies to any objective (bands do not add up), capped at
100%. Its base is the price of the period: the price per month (a quarterly price / 3, a yearly one
/ 12) times the months reported (a range counts its days / 30 months). Amounts round half-up to cents.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

PER_MONTH = {"month": Decimal(1), "quarter": Decimal(3), "year": Decimal(12)}
CENT = Decimal("0.01")


@dataclass(frozen=True)
class Credit:
    percent: Decimal
    objective_id: str | None
    attainment: float | None
    base: Decimal | None
    amount: Decimal | None
    currency: str | None


def band_percent(attainment: float, bands: Iterable[dict[str, Any]], objective_id: str) -> Decimal:
    """The largest credit share of the bands this objective's attainment falls into."""
    found = Decimal(0)
    for band in bands:
        if band.get("objective_id") not in (None, objective_id):
            continue
        if float(band.get("down_to", 0.0)) <= attainment < float(band["below"]):
            found = max(found, Decimal(str(band["credit_percent"])))
    return found


def period_price(price: dict[str, Any] | None, *, months: int | None, seconds: float) -> Decimal | None:
    """The price of the reported period."""
    if not price:
        return None
    monthly = Decimal(str(price["amount"])) / PER_MONTH[price.get("period", "month")]
    count = Decimal(months) if months is not None else Decimal(str(seconds)) / Decimal(30 * 86400)
    return (monthly * count).quantize(CENT, rounding=ROUND_HALF_UP)


def credit_owed(
    attainments: dict[str, float | None],
    bands: list[dict[str, Any]],
    price: dict[str, Any] | None,
    *,
    months: int | None,
    seconds: float,
) -> Credit:
    """The credit for the period: the worst band reached by any objective, applied to the period's price."""
    percent, worst, value = Decimal(0), None, None
    for objective_id, attained in sorted(attainments.items()):
        if attained is None:
            continue
        share = band_percent(attained, bands, objective_id)
        if share > percent:
            percent, worst, value = share, objective_id, attained
    percent = min(percent, Decimal(100))
    base = period_price(price, months=months, seconds=seconds)
    amount = (base * percent / 100).quantize(CENT, rounding=ROUND_HALF_UP) if base is not None else None
    return Credit(percent, worst, value, base, amount, price.get("currency") if price else None)
