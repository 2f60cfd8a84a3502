"""Pure activation rules: measurable objectives, consistent dates, no overlap, and a chain that holds."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from slm_agreements.objectives import measurability_problems
from slm_agreements.terms import date_problems
from slm_shared.contracts.targets import Target

AVAILABILITY_KINDS = frozenset({"ratio", "timeslice"})


@dataclass(frozen=True)
class Gap:
    """One reason an agreement cannot be activated; chain gaps a manager may accept as a risk."""

    rule: str
    field: str
    message: str
    service_id: str | None = None
    service_key: str | None = None
    shortfall: float | None = None

    @property
    def overridable(self) -> bool:
        return self.rule == "chain"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class OtherAgreement:
    """Another agreement in force for the same party and service."""

    agreement_id: str
    name: str
    effective_from: datetime
    effective_to: datetime | None


@dataclass(frozen=True)
class Commitment:
    """An active OLA or UC on a supporting service, and the availability it commits to (if any)."""

    agreement_id: str
    kind: str
    availability: float | None


def is_availability(target: Target) -> bool:
    """Availability-type objectives (success ratios, time slices) compose serially along a chain."""
    return target.indicator_kind in AVAILABILITY_KINDS


def availability_commitment(targets: Sequence[Target]) -> float | None:
    """The weakest availability-type objective an agreement commits to, or None if it has none."""
    values = [t.target for t in targets if is_availability(t)]
    return min(values) if values else None


def measurability_gaps(targets: Sequence[Target], kinds: Mapping[str, str | None]) -> list[Gap]:
    """Every objective whose indicator the catalogue lacks or measures differently, or that cannot be measured."""
    gaps: list[Gap] = []
    for index, target in enumerate(targets):
        field = f"objectives.{index}"
        kind = kinds.get(target.indicator)
        if kind is None:
            gaps.append(
                Gap("measurable", f"{field}.indicator", f"indicator {target.indicator!r} is not in the catalogue")
            )
        elif kind != target.indicator_kind:
            message = f"indicator {target.indicator!r} is a {kind} indicator, not {target.indicator_kind}"
            gaps.append(Gap("measurable", f"{field}.indicator_kind", message))
        for name, reason in measurability_problems(target).items():
            gaps.append(Gap("measurable", f"{field}.{name}", reason))
    return gaps


def date_gaps(
    effective_from: datetime, effective_to: datetime | None, renewal_notice_days: int | None, now: datetime
) -> list[Gap]:
    """Dates that do not fit together, or a term already over."""
    gaps = [
        Gap("dates", field, reason)
        for field, reason in date_problems(effective_from, effective_to, renewal_notice_days).items()
    ]
    if not gaps and effective_to is not None and effective_to <= now:
        gaps.append(Gap("dates", "effective_to", "the term is already over"))
    return gaps


def overlap_gaps(
    effective_from: datetime, effective_to: datetime | None, others: Sequence[OtherAgreement]
) -> list[Gap]:
    """Other agreements in force for the same party and service whose terms overlap this one."""
    gaps = []
    for other in others:
        starts_before_other_ends = other.effective_to is None or effective_from < other.effective_to
        other_starts_before_end = effective_to is None or other.effective_from < effective_to
        if starts_before_other_ends and other_starts_before_end:
            message = f"agreement {other.agreement_id} ({other.name}) is in force for the same party and service"
            gaps.append(Gap("overlap", "effective_from", message))
    return gaps


def chain_gaps(
    targets: Sequence[Target],
    supporting: Sequence[tuple[str, str]],
    commitments: Mapping[str, Sequence[Commitment]],
) -> list[Gap]:
    """What the supporting services (id, key) under an SLA fail to commit to.

    Each supporting service must be covered by an active OLA or UC. For each availability-type
    objective, each supporting commitment must reach it alone, and, the dependencies being serial,
    so must their product.
    """
    gaps: list[Gap] = []
    committed: dict[str, tuple[str, float]] = {}
    wanted = [(index, t) for index, t in enumerate(targets) if is_availability(t)]
    for service_id, key in supporting:
        covering = commitments.get(service_id, [])
        if not covering:
            message = f"supporting service {key} is not covered by an active OLA or UC"
            gaps.append(Gap("chain", f"chain.{key}", message, service_id, key))
            continue
        values = [c.availability for c in covering if c.availability is not None]
        if not values:
            if wanted:
                message = f"supporting service {key} is covered, but commits to no availability objective"
                gaps.append(Gap("chain", f"chain.{key}", message, service_id, key))
            continue
        committed[service_id] = (key, max(values))
    for index, target in wanted:
        for service_id, (key, value) in committed.items():
            if value < target.target:
                shortfall = round(target.target - value, 9)
                message = (
                    f"supporting service {key} commits to {value:g}, "
                    f"short of the SLA's {target.target:g} by {shortfall:g}"
                )
                gaps.append(Gap("chain", f"objectives.{index}.target", message, service_id, key, shortfall))
        if len(committed) > 1:
            product = math.prod(value for _, value in committed.values())
            if product < target.target:
                weakest_id, (weakest_key, _) = min(committed.items(), key=lambda item: item[1][1])
                shortfall = round(target.target - product, 9)
                terms = " x ".join(f"{key} {value:g}" for key, value in committed.values())
                message = (
                    f"serial supporting commitments multiply to {product:.6g} ({terms}), "
                    f"short of the SLA's {target.target:g} by {shortfall:g}"
                )
                gaps.append(Gap("chain", f"objectives.{index}.target", message, weakest_id, weakest_key, shortfall))
    return gaps
