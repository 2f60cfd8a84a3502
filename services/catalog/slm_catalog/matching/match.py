"""Pure requirement matching: which requirements a tier misses, and by how much."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from slm_catalog.matching.schemas import Gap, Requirement
from slm_catalog.offerings.rules import monthly_amount
from slm_shared import calendars
from slm_shared.contracts import targets
from slm_shared.contracts.targets import Target, WantedTarget

SHARE = "share"


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


def _no_target(path: str, wanted: WantedTarget, message: str) -> Gap:
    return Gap(
        requirement=path, message=message, wanted=_percent(wanted.target), offered=None, shortfall=None, unit=SHARE
    )


def _shortfalls(wanted: WantedTarget, offered: Target) -> tuple[float | None, float]:
    """(threshold shortfall in the indicator's unit, or None if not comparable; share shortfall)."""
    share = max(0.0, wanted.target - offered.target)
    if wanted.value is None or offered.op is None or offered.value is None:
        return 0.0, share
    return targets.threshold_shortfall(offered.op, offered.value, wanted.op or offered.op, wanted.value), share


def _target_gaps(index: int, wanted: WantedTarget, tier: OfferedTier) -> list[Gap]:
    """What the tier's closest target on the indicator misses: the threshold (in its unit) and the share, apart."""
    path = f"targets.{index}"
    offered = [Target.model_validate(t) for t in tier.targets if t["indicator"] == wanted.indicator]
    if not offered:
        return [_no_target(path, wanted, f"no target on {wanted.indicator}")]
    shortfalls = [(t, _shortfalls(wanted, t)) for t in offered]
    comparable = [(t, (v, s)) for t, (v, s) in shortfalls if v is not None]
    if not comparable:
        wanted_op = targets.SYMBOL[wanted.op or "lte"]
        return [_no_target(path, wanted, f"{wanted.indicator}: no target judges values {wanted_op} a threshold")]
    best, (value_short, share_short) = min(comparable, key=lambda item: (item[1][0] > 0, item[1][1], item[1][0]))
    unit = tier.units.get(wanted.indicator, "")
    gaps = []
    if value_short and best.op is not None:
        symbol = targets.SYMBOL[wanted.op or best.op]
        gaps.append(
            Gap(
                requirement=f"{path}.value",
                message=f"{wanted.indicator}: wanted values {symbol} {wanted.value:g}{unit}, "
                f"offered {targets.SYMBOL[best.op]} {best.value:g}{unit}",
                wanted=f"{wanted.value:g}",
                offered=f"{best.value:g}",
                shortfall=round(value_short, 9),
                unit=unit or "threshold",
            )
        )
    if share_short > 0:
        gaps.append(
            Gap(
                requirement=f"{path}.target",
                message=f"{wanted.indicator}: wanted {_percent(wanted.target)} good, offered {_percent(best.target)}",
                wanted=_percent(wanted.target),
                offered=_percent(best.target),
                shortfall=round(share_short, 9),
                unit=SHARE,
            )
        )
    return gaps


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
    gaps = [gap for i, wanted in enumerate(requirement.targets) for gap in _target_gaps(i, wanted, tier)]
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


def requirement_of(gap: Gap) -> str:
    """The requirement a gap belongs to: `targets.0` for both `targets.0.value` and `targets.0.target`."""
    parts = gap.requirement.split(".")
    return ".".join(parts[:2]) if parts[0] in ("targets", "ticket_targets") else parts[0]


def requirements_missed(gaps: Sequence[Gap]) -> int:
    """How many requirements a tier misses (a target missed on threshold and share counts once)."""
    return len({requirement_of(gap) for gap in gaps})


def unmet_requirements(gaps_per_tier: Sequence[tuple[str, list[Gap]]]) -> list[tuple[str, Gap]]:
    """Requirements every tier misses, each with the tier that comes closest and every shortfall in its own unit.

    The closest tier misses the fewest parts of the requirement, then by the least share, then the least threshold.
    """
    if not gaps_per_tier:
        return []
    missed: dict[str, dict[str, list[Gap]]] = {}
    for offering_id, gaps in gaps_per_tier:
        for gap in gaps:
            missed.setdefault(requirement_of(gap), {}).setdefault(offering_id, []).append(gap)
    found: list[tuple[str, Gap]] = []
    for by_tier in missed.values():
        if len(by_tier) != len(gaps_per_tier):
            continue

        def closeness(item: tuple[str, list[Gap]]) -> tuple[int, bool, float, float]:
            gaps = item[1]
            share = sum(g.shortfall or 0.0 for g in gaps if g.unit == SHARE)
            other = sum(g.shortfall or 0.0 for g in gaps if g.unit != SHARE)
            return (len(gaps), any(g.shortfall is None for g in gaps), share, other)

        offering_id, gaps = min(by_tier.items(), key=closeness)
        found.extend((offering_id, gap) for gap in gaps)
    return sorted(found, key=lambda item: item[1].requirement)
