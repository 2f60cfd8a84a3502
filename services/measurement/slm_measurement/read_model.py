"""The objectives read model, kept from the agreements' activation and end events."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from slm_measurement import repository
from slm_measurement.models import Objective
from slm_measurement.windows import WindowError, WindowSpec, validate_window
from slm_shared.contracts.payloads import AgreementActivatedV1, AgreementEndedV1, ObjectiveV1
from slm_shared.db import utcnow

logger = logging.getLogger(__name__)


def _definition(agreement: AgreementActivatedV1, target: ObjectiveV1) -> dict[str, Any]:
    return {
        "agreement_version": agreement.version,
        "agreement_kind": agreement.kind,
        "name": target.name,
        "service_key": agreement.service_key,
        "indicator": target.indicator,
        "indicator_kind": target.indicator_kind,
        "objective": target.objective,
        "comparison": target.comparison,
        "window_kind": target.window.kind,
        "window_duration": target.window.duration,
        "window_unit": target.window.unit,
        "window_timezone": target.window.timezone,
        "budgeting_method": target.budgeting_method,
        "consumer_party_id": agreement.consumer_party_id,
    }


def check_windows(agreement: AgreementActivatedV1) -> None:
    """Raise WindowError naming the objective whose window cannot be evaluated."""
    for target in agreement.objectives:
        window = target.window
        try:
            validate_window(WindowSpec(window.kind, window.duration, window.unit, window.timezone))
        except WindowError as exc:
            raise WindowError(f"objective {target.objective_id}: {exc}") from exc


async def apply_activation(session: AsyncSession, *, tenant: str, agreement: AgreementActivatedV1) -> bool:
    """Make this version's objectives the agreement's active ones; False if a newer one is known."""
    check_windows(agreement)
    existing = {
        o.objective_id: o
        for o in await repository.agreement_objectives(session, tenant=tenant, agreement_id=agreement.agreement_id)
    }
    if any(o.agreement_version > agreement.version for o in existing.values()):
        logger.info(
            "agreement %s v%d is older than the one applied; ignored", agreement.agreement_id, agreement.version
        )
        return False
    now = utcnow()
    incoming = {target.objective_id for target in agreement.objectives}
    for target in agreement.objectives:
        definition = _definition(agreement, target)
        row = existing.get(target.objective_id)
        if row is None:
            session.add(
                Objective(
                    tenant=tenant, agreement_id=agreement.agreement_id, objective_id=target.objective_id, **definition
                )
            )
            continue
        for name, value in definition.items():
            setattr(row, name, value)
        row.active, row.needs_evaluation, row.updated_at = True, True, now
    for objective_id, row in existing.items():
        if objective_id not in incoming and row.active:
            row.active, row.agreement_version, row.updated_at = False, agreement.version, now
    await session.flush()
    return True


async def apply_end(session: AsyncSession, *, tenant: str, ended: AgreementEndedV1) -> int:
    """Deactivate the agreement's objectives of this version or older; returns how many."""
    count = 0
    for row in await repository.agreement_objectives(session, tenant=tenant, agreement_id=ended.agreement_id):
        if row.active and row.agreement_version <= ended.version:
            row.active, row.needs_evaluation, row.updated_at = False, False, utcnow()
            count += 1
    await session.flush()
    return count
