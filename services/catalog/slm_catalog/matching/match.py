"""Pure requirement matching: which requirements a tier misses, and by how much."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from slm_catalog.matching.schemas import Gap, Requirement
from slm_catalog.offerings.rules import monthly_amount
from slm_shared import calendars

LOWER_IS_BETTER = ("<=", "<")


@dataclass(frozen=True)
class OfferedTier:
    """A current tier as the matcher sees it."""

    targets: Sequence[dict[str, Any]]
    ticket_targets: Sequence[dict[str, Any]] = ()
    support_hours: calendars.Calendar = calendars.ALWAYS
    price: dict[str, Any] | None = None
    units: dict[str, str] = field(default_factory=dict)


def _percent(value: float) -> str:
    return f"{value * 100:.4g}%"


def _target_gap(index: int, wanted: Any, tier: OfferedTier) -> Gap | None:
    path = f"targets.{index}"
    offered = [t for t in tier.targets if t["indicator"] == wanted.indicator]
    if not offered:
        return Gap(
            requirement=path,
            message=f"no target on {wanted.indicator}",
            wanted=_percent(wanted.objective),
            offered=None,
            shortfall=None,
            unit="objective",
        )

    def shortfalls(target: dict[str, Any]) -> tuple[float, float]:
        objective_short = max(0.0, wanted.objective - target["objective"])
        threshold_short = 0.0
        if wanted.threshold is not None and target.get("threshold") is not None:
            if target.get("comparison", ">=") in LOWER_IS_BETTER:
                threshold_short = max(0.0, target["threshold"] - wanted.threshold)
            else:
                threshold_short = max(0.0, wanted.threshold - target["threshold"])
        return objective_short, threshold_short

    best = min(offered, key=shortfalls)
    objective_short, threshold_short = shortfalls(best)
    if objective_short > 0:
        return Gap(
            requirement=path,
            message=f"{wanted.indicator}: wanted {_percent(wanted.objective)}, "
            f"best offered {_percent(best['objective'])}",
            wanted=_percent(wanted.objective),
            offered=_percent(best["objective"]),
            shortfall=round(objective_short, 9),
            unit="objective",
        )
    if threshold_short > 0:
        unit = tier.units.get(wanted.indicator, "")
        return Gap(
            requirement=f"{path}.threshold",
            message=f"{wanted.indicator}: wanted {best.get('comparison')} {wanted.threshold}{unit}, "
            f"offered {best['threshold']}{unit}",
            wanted=f"{wanted.threshold}",
            offered=f"{best['threshold']}",
            shortfall=round(threshold_short, 9),
            unit=unit or "threshold",
        )
    return None


def _ticket_gaps(index: int, wanted: Any, tier: OfferedTier) -> list[Gap]:
    offered = next((t for t in tier.ticket_targets if t["priority"] == wanted.priority), {})
    gaps = []
    for clock in ("response_seconds", "resolution_seconds"):
        want = getattr(wanted, clock)
        have = offered.get(clock)
        if want is None or (have is not None and have <= want):
            continue
        gaps.append(
            Gap(
                requirement=f"ticket_targets.{index}.{clock}",
                message=f"{wanted.priority} {clock.split('_')[0]}: wanted within {want}s, offered "
                + (f"{have}s" if have is not None else "nothing"),
                wanted=f"{want}",
                offered=f"{have}" if have is not None else None,
                shortfall=float(have - want) if have is not None else None,
                unit="seconds",
            )
        )
    return gaps


def _price_gap(requirement: Requirement, tier: OfferedTier) -> Gap | None:
    limit = requirement.max_price
    if limit is None:
        return None
    price = tier.price
    wanted = f"{limit.amount} {limit.currency} per {limit.period}"
    if price is None:
        return Gap(
            requirement="max_price",
            message="the tier has no list price",
            wanted=wanted,
            offered=None,
            shortfall=None,
            unit=limit.currency,
        )
    offered = f"{price['amount']} {price['currency']} per {price['period']}"
    if price["currency"] != limit.currency:
        return Gap(
            requirement="max_price.currency",
            message=f"priced in {price['currency']}",
            wanted=wanted,
            offered=offered,
            shortfall=None,
            unit=limit.currency,
        )
    over = monthly_amount(Decimal(str(price["amount"])), price["period"]) - monthly_amount(limit.amount, limit.period)
    if over <= 0:
        return None
    return Gap(
        requirement="max_price",
        message=f"{over:.2f} {limit.currency} per month over budget",
        wanted=wanted,
        offered=offered,
        shortfall=float(round(over, 2)),
        unit=f"{limit.currency}/month",
    )


def _weekly_hours(calendar: calendars.Calendar) -> float:
    return sum(upper - lower for lower, upper in calendars.weekly_minutes(calendar.hours)) / 60


def tier_gaps(requirement: Requirement, tier: OfferedTier) -> list[Gap]:
    """Every requirement the tier misses, with the shortfall."""
    gaps = [gap for i, wanted in enumerate(requirement.targets) if (gap := _target_gap(i, wanted, tier))]
    for index, wanted in enumerate(requirement.ticket_targets):
        gaps.extend(_ticket_gaps(index, wanted, tier))
    if requirement.support_hours is not None:
        wanted_hours = calendars.Calendar(
            timezone=requirement.support_hours.timezone,
            hours=tuple(calendars.hours_on(h.day, h.start, h.end) for h in requirement.support_hours.hours),
        )
        missing = calendars.uncovered_weekly_minutes(tier.support_hours, wanted_hours)
        if missing:
            gaps.append(
                Gap(
                    requirement="support_hours",
                    message=f"{missing / 60:.4g} hours a week of the wanted support hours are not covered",
                    wanted=f"{_weekly_hours(wanted_hours):.4g} h/week",
                    offered=f"{_weekly_hours(tier.support_hours):.4g} h/week in {tier.support_hours.timezone}",
                    shortfall=round(missing / 60, 4),
                    unit="hours per week",
                )
            )
    if gap := _price_gap(requirement, tier):
        gaps.append(gap)
    return gaps


def unmet_requirements(gaps_per_tier: Sequence[tuple[str, list[Gap]]]) -> list[tuple[str, Gap]]:
    """Requirements every tier misses, each with the tier that comes closest."""
    if not gaps_per_tier:
        return []
    missed: dict[str, list[tuple[str, Gap]]] = {}
    for offering_id, gaps in gaps_per_tier:
        for gap in gaps:
            missed.setdefault(gap.requirement.split(".threshold")[0], []).append((offering_id, gap))
    everywhere = [
        min(found, key=lambda item: (item[1].shortfall is None, item[1].shortfall or 0.0))
        for requirement, found in missed.items()
        if len({offering_id for offering_id, _gap in found}) == len(gaps_per_tier)
    ]
    return sorted(everywhere, key=lambda item: item[1].requirement)
