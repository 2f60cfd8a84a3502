"""A customer requirement starts an agreement: catalogue matching picks the tier, the rest is customer-specific."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from slm_agreements.catalog.client import CatalogClient, CatalogUnavailable
from slm_agreements.requirements.schemas import RequirementAgreementCreate
from slm_agreements.schemas import AgreementCreate, ObjectiveIn
from slm_shared.contracts.targets import Target, WantedTarget
from slm_shared.db import utcnow
from slm_shared.errors import FieldError, Unprocessable


class MatchGap(BaseModel):
    model_config = ConfigDict(extra="ignore")

    requirement: str
    message: str
    wanted: str | None = None
    offered: str | None = None
    shortfall: float | None = None


class MatchTier(BaseModel):
    model_config = ConfigDict(extra="ignore")

    offering_id: str
    name: str
    monthly_price: Decimal | None = None


class MatchService(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str
    key: str


class MatchCandidate(BaseModel):
    model_config = ConfigDict(extra="ignore")

    service: MatchService
    tier: MatchTier
    meets: bool
    gaps: list[MatchGap]


class MatchResult(BaseModel):
    model_config = ConfigDict(extra="ignore")

    outcome: str
    needs_customer_specific_service: bool
    matches: list[MatchCandidate]
    closest: list[MatchCandidate]


async def match(client: CatalogClient, data: RequirementAgreementCreate) -> tuple[MatchResult, MatchCandidate]:
    """Ask the catalogue which tier meets the requirement: the tier chosen, else the cheapest that meets the most."""
    status, body = await client.post(
        "/v1/requirements/match", data.requirement.model_dump(mode="json", exclude_none=True)
    )
    if status in (401, 403):
        raise CatalogUnavailable(f"The catalog refused the requirement matching ({status})")
    if status != 200:
        errors = body.get("errors", []) if isinstance(body, dict) else []
        fields = [
            FieldError(field=f"requirement.{e.get('field', '')}", message=str(e.get("message", ""))) for e in errors
        ]
        detail = body.get("detail") if isinstance(body, dict) else None
        raise Unprocessable(f"The catalogue cannot match this requirement: {detail or status}", errors=fields)
    try:
        result = MatchResult.model_validate(body)
    except ValidationError as exc:
        raise CatalogUnavailable(f"The catalog's match result is unreadable: {exc.error_count()} errors") from exc
    candidates = result.matches + result.closest
    if data.offering_id is not None:
        chosen = [c for c in candidates if c.tier.offering_id == data.offering_id]
        if not chosen:
            message = "not a current tier of a live service that the requirement can be matched with"
            raise Unprocessable(message, errors=[FieldError(field="offering_id", message=message)])
        return result, chosen[0]
    if not candidates:
        message = "no published tier of a live service to base an agreement on"
        raise Unprocessable(message, errors=[FieldError(field="requirement", message=message)])
    return result, min(candidates, key=_most_met_then_cheapest)


def _requirement_of(gap: MatchGap) -> str:
    parts = gap.requirement.split(".")
    return ".".join(parts[:2]) if parts[0] in ("targets", "ticket_targets") else parts[0]


def _most_met_then_cheapest(candidate: MatchCandidate) -> tuple[int, bool, Decimal, str]:
    """Fewest requirements missed, then the lowest monthly price (unpriced last), then the name."""
    missed = len({_requirement_of(gap) for gap in candidate.gaps})
    price = candidate.tier.monthly_price
    return (missed, price is None, price or Decimal(0), candidate.tier.name)


def _objective(wanted: WantedTarget, offered: Target | None) -> ObjectiveIn:
    base: dict[str, Any] = (
        offered.model_dump(mode="json")
        if offered
        else {
            "indicator_kind": "threshold" if wanted.value is not None else "ratio",
            "window": {"kind": "calendar", "unit": "month"},
        }
    )
    base.update(indicator=wanted.indicator, target=wanted.target)
    if wanted.value is not None:
        base["value"] = wanted.value
        base["op"] = wanted.op or base.get("op") or "lte"
    return ObjectiveIn.model_validate({**base, "name": f"{wanted.indicator} (customer-specific)"})


def agreement_request(
    data: RequirementAgreementCreate, result: MatchResult, basis: MatchCandidate, offering_targets: list[Target]
) -> tuple[AgreementCreate, dict[str, Any]]:
    """The agreement to draft on the basis tier, and which requirements needed a customer-specific service."""
    offered = {t.indicator: t for t in offering_targets}
    overrides, specific = [], []
    overridden: set[int] = set()
    for gap in basis.gaps:
        record: dict[str, Any] = gap.model_dump()
        parts = gap.requirement.split(".")
        if (
            parts[0] == "targets"
            and len(parts) > 1
            and parts[1].isdigit()
            and int(parts[1]) < len(data.requirement.targets)
        ):
            wanted = data.requirement.targets[int(parts[1])]
            if int(parts[1]) not in overridden:
                overrides.append(_objective(wanted, offered.get(wanted.indicator)))
                overridden.add(int(parts[1]))
            record["indicator"] = wanted.indicator
        specific.append(record)
    terms = data.model_dump(
        exclude={"requirement", "kind", "name", "provider_party_id", "consumer_party_id", "offering_id"},
        exclude_unset=True,
    )
    create = AgreementCreate.model_validate(
        {
            **terms,
            "kind": data.kind,
            "name": data.name,
            "service_id": basis.service.id,
            "offering_id": basis.tier.offering_id,
            "provider_party_id": data.provider_party_id,
            "consumer_party_id": data.consumer_party_id,
            "objectives": [o.model_dump(mode="json") for o in overrides],
        }
    )
    requirement = {
        "requirement": data.requirement.model_dump(mode="json", exclude_none=True),
        "outcome": result.outcome,
        "needs_customer_specific_service": bool(specific),
        "offering_id": basis.tier.offering_id,
        "offering_name": basis.tier.name,
        "customer_specific": specific,
        "matched_at": utcnow().isoformat(),
    }
    return create, requirement
