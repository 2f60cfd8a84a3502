"""Event payloads, version 2: targets in the one shape of `slm_shared.contracts.targets` (target, op, value)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from slm_shared.contracts.payloads import AgreementActivatedV1, CreditTermsV1, OfferingPublishedV1
from slm_shared.contracts.targets import Target, from_v1


class TargetV2(Target):
    """A target as events carry it from version 2 on."""


class ObjectiveV2(TargetV2):
    objective_id: str = Field(description="the agreement's id of the objective: the one id every service uses")
    name: str | None = None
    customer_specific: bool = False


class OfferingPublishedV2(OfferingPublishedV1):
    targets: list[TargetV2]  # type: ignore[assignment]


class AgreementActivatedV2(AgreementActivatedV1):
    objectives: list[ObjectiveV2]  # type: ignore[assignment]


def _upgrade_targets(data: dict[str, Any], key: str) -> dict[str, Any]:
    return {**data, key: [from_v1(dict(item)) for item in data.get(key) or []]}


def offering_published(event_type: str, data: dict[str, Any]) -> OfferingPublishedV2:
    """An offering.published payload of either version, in the version-2 shape."""
    if event_type.endswith(".v1"):
        data = _upgrade_targets(data, "targets")
    return OfferingPublishedV2.model_validate(data)


def agreement_activated(event_type: str, data: dict[str, Any]) -> AgreementActivatedV2:
    """An agreement.activated payload of either version, in the version-2 shape."""
    if event_type.endswith(".v1"):
        data = _upgrade_targets(data, "objectives")
    return AgreementActivatedV2.model_validate(data)


# Version-1 fields added later (credit terms) are annotated after their class in payloads.py.
AgreementActivatedV2.model_rebuild(_types_namespace={"CreditTermsV1": CreditTermsV1})
