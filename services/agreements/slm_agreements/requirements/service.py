"""A customer requirement starts an agreement: catalogue matching picks the tier, the rest is customer-specific."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from slm_agreements.catalog.client import CatalogClient, CatalogUnavailable
from slm_agreements.requirements.schemas import RequirementAgreementCreate, WantedTarget
from slm_agreements.schemas import AgreementCreate, ObjectiveIn
from slm_shared.contracts.payloads import TargetV1
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
    """Ask the catalogue which tier meets the requirement; the cheapest match, or else the closest tier."""
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
    basis = (result.matches or result.closest or [None])[0]
    if basis is None:
        message = "no published tier of a live service to base an agreement on"
        raise Unprocessable(message, errors=[FieldError(field="requirement", message=message)])
    return result, basis


def _objective(wanted: WantedTarget, offered: TargetV1 | None) -> ObjectiveIn:
    base = (
        offered.model_dump(mode="json")
        if offered
        else {
            "indicator_kind": "threshold" if wanted.threshold is not None else "ratio",
            "window": {"kind": "calendar", "unit": "month"},
        }
    )
    base.update(indicator=wanted.indicator, objective=wanted.objective)
    if wanted.threshold is not None:
        base["threshold"] = wanted.threshold
    if wanted.comparison is not None:
        base["comparison"] = wanted.comparison
    return ObjectiveIn.model_validate({**base, "name": f"{wanted.indicator} (customer-specific)"})


def agreement_request(
    data: RequirementAgreementCreate, result: MatchResult, basis: MatchCandidate, offering_targets: list[TargetV1]
) -> tuple[AgreementCreate, dict[str, Any]]:
    """The agreement to draft on the basis tier, and which requirements needed a customer-specific service."""
    offered = {t.indicator: t for t in offering_targets}
    overrides, specific = [], []
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
            overrides.append(_objective(wanted, offered.get(wanted.indicator)))
            record["indicator"] = wanted.indicator
        specific.append(record)
    terms = data.model_dump(
        exclude={"requirement", "kind", "name", "provider_party_id", "consumer_party_id"}, exclude_unset=True
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
