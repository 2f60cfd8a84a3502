"""The objectives read model, kept from the agreements' activation and end events.

A version whose effective instant is still ahead waits in `pending_activations` and is applied by
the evaluator when it comes; until then the previous version keeps being evaluated. An agreement
stops being evaluated when it ends (terminated, superseded, expired) or when its `effective_to` passes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from slm_measurement import repository
from slm_measurement.burn_alerts import retire_removed_tiers
from slm_measurement.domain import maintenance
from slm_measurement.domain.alerts import tiers_of
from slm_measurement.domain.windows import DAY, MINUTE, WindowError, WindowSpec, validate_window
from slm_measurement.models import Objective, PendingActivation
from slm_measurement.observations import service as observation_service
from slm_measurement.wake_keys import EVALUATION_PENDING
from slm_shared.contracts import payloads_v2, targets
from slm_shared.contracts.payloads import AgreementEndedV1, MaintenanceWindowV1
from slm_shared.contracts.payloads_v2 import AgreementActivatedV2, ObjectiveV2
from slm_shared.db import utcnow
from slm_shared.terms import in_force
from slm_shared.terms import maintenance as shared_maintenance
from slm_shared.terms.credits import CreditBand
from slm_shared.terms.observations import scope_measured
from slm_shared.terms.tickets import TicketTarget

logger = logging.getLogger(__name__)


def definition(agreement: AgreementActivatedV2, target: ObjectiveV2) -> dict[str, Any]:
    """The objective's columns as one version of its agreement defines it."""
    defined: dict[str, Any] = {
        "agreement_version": agreement.version,
        "agreement_kind": agreement.kind,
        "name": target.name,
        "service_key": agreement.service_key,
        "indicator": target.indicator,
        "indicator_kind": target.indicator_kind,
        "target": target.target,
        "op": target.op,
        "window_kind": target.window.kind,
        "window_duration": target.window.duration,
        "window_unit": target.window.unit,
        "window_timezone": target.window.timezone,
        "budgeting_method": target.budgeting_method,
        "value": target.value,
        "timeslice_seconds": target.timeslice_seconds,
        "timeslice_target": target.timeslice_target,
        "consumer_party_id": agreement.consumer_party_id,
        "scope": scope_measured(agreement.measured_scope, agreement.consumer_party_id),
        "maintenance_windows": [w.model_dump(mode="json") for w in windows_of(agreement, target)],
        "effective_from": agreement.effective_from,
        "effective_to": agreement.effective_to,
    }
    if target.alert_policy is not None:  # the terms' policy; without one, a policy set on the objective stays
        defined["alert_policy"] = [tier.model_dump(mode="json") for tier in target.alert_policy]
    return defined


def windows_of(agreement: AgreementActivatedV2, target: ObjectiveV2) -> list[MaintenanceWindowV1]:
    """The maintenance the objective does not count: the agreement's windows, then its own (from its tier)."""
    return [*agreement.maintenance_windows, *(target.maintenance_windows or [])]


@dataclass(frozen=True)
class Refusal:
    """Why an activated version cannot be measured, and the term at fault (a dotted path) when known."""

    field: str | None
    reason: str


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"])
    return f"{where}: {error['msg']}" if where else str(error["msg"])


def refusal(agreement: AgreementActivatedV2) -> Refusal | None:
    """The first term of the version that measurement cannot hold it to, checked by the shared validators."""
    for index, window in enumerate(agreement.maintenance_windows):
        if reason := shared_maintenance.problem(window):
            return Refusal(f"maintenance_windows.{index}", reason)
    for index, target in enumerate(agreement.ticket_targets):
        try:
            TicketTarget.model_validate(target.model_dump())
        except ValidationError as exc:
            return Refusal(f"ticket_targets.{index}", _first_error(exc))
    for index, band in enumerate(agreement.credit_schedule):
        try:
            CreditBand.model_validate({k: v for k, v in band.items() if k != "objective_id"})
        except ValidationError as exc:
            return Refusal(f"credit_schedule.{index}", _first_error(exc))
    try:
        check_agreement(agreement)
    except WindowError as exc:
        return Refusal("objectives", str(exc))
    return None


def check_agreement(agreement: AgreementActivatedV2) -> None:
    """Raise WindowError naming what cannot be evaluated: a target, a window, a timeslice or a maintenance window."""
    for target in agreement.objectives:
        window = target.window
        try:
            if problems := targets.target_problems(target):
                raise WindowError("; ".join(f"{field}: {reason}" for field, reason in problems.items()))
            validate_window(WindowSpec(window.kind, window.duration, window.unit, window.timezone))
            seconds = target.timeslice_seconds
            if seconds is not None and (seconds < MINUTE or seconds % MINUTE or DAY % seconds):
                raise WindowError(f"timeslice_seconds {seconds} must be whole minutes that divide a day")
        except WindowError as exc:
            raise WindowError(f"objective {target.objective_id}: {exc}") from exc
    for index, maintenance_window in enumerate(agreement.maintenance_windows):
        try:
            fields = maintenance_window.model_dump(exclude={"reason"})
            maintenance.validate(maintenance.MaintenanceWindow(**fields))
        except WindowError as exc:
            raise WindowError(f"maintenance_windows[{index}]: {exc}") from exc
    for target in agreement.objectives:
        for index, own in enumerate(target.maintenance_windows or []):
            try:
                maintenance.validate(maintenance.MaintenanceWindow(**own.model_dump(exclude={"reason"})))
            except WindowError as exc:
                raise WindowError(f"objective {target.objective_id} maintenance_windows[{index}]: {exc}") from exc


check_windows = check_agreement


def stored_type(payload: dict[str, Any]) -> str:
    """The version of a stored activation payload: version 1 carried `objective`, version 2 `target`."""
    objectives = payload.get("objectives") or [{}]
    return "agreement.activated.v1" if "objective" in objectives[0] else "agreement.activated.v2"


async def apply_activation(
    session: AsyncSession, *, tenant: str, agreement: AgreementActivatedV2, now: datetime | None = None
) -> bool:
    """Make this version's objectives the active ones, now or at its effective instant.

    Returns False when a newer version is already applied (the event is then ignored).
    """
    check_agreement(agreement)
    now = now or utcnow()
    existing = await repository.agreement_objectives(session, tenant=tenant, agreement_id=agreement.agreement_id)
    if any(o.agreement_version > agreement.version for o in existing):
        logger.info(
            "agreement %s v%d is older than the one applied; ignored", agreement.agreement_id, agreement.version
        )
        return False
    amendment = in_force.ActivatedVersion(
        agreement.version, agreement.effective_from, agreement.activated_at or now, agreement.effective_to
    )
    if existing and in_force.starts_at(amendment, first=False) > now:
        if (
            await repository.pending_activation(
                session, tenant=tenant, agreement_id=agreement.agreement_id, version=agreement.version
            )
            is None
        ):
            session.add(
                PendingActivation(
                    tenant=tenant,
                    agreement_id=agreement.agreement_id,
                    version=agreement.version,
                    effective_from=agreement.effective_from,
                    payload=agreement.model_dump(mode="json"),
                )
            )
            await session.flush()
            session.info[EVALUATION_PENDING] = True  # the evaluation worker reads when it takes effect, and wakes then
        return True
    await _apply_now(session, tenant=tenant, agreement=agreement, existing=existing, now=now)
    return True


async def _apply_now(
    session: AsyncSession, *, tenant: str, agreement: AgreementActivatedV2, existing: Any, now: datetime
) -> None:
    rows = {o.objective_id: o for o in existing}
    incoming = {target.objective_id for target in agreement.objectives}
    active = agreement.effective_from <= now and (agreement.effective_to is None or agreement.effective_to > now)
    for target in agreement.objectives:
        defined = definition(agreement, target)
        row = rows.get(target.objective_id)
        if row is None:
            session.add(
                Objective(
                    tenant=tenant,
                    agreement_id=agreement.agreement_id,
                    objective_id=target.objective_id,
                    active=active,
                    **defined,
                )
            )
            continue
        if "alert_policy" in defined:  # tiers the new terms no longer have are told to stop firing
            kept = {tier.name for tier in tiers_of(defined["alert_policy"])}
            retire_removed_tiers(session, row, kept, now=now)
        for name, value in defined.items():
            setattr(row, name, value)
        row.active, row.ended, row.needs_evaluation, row.updated_at = active, False, True, now
        await repository.forget_objective_tallies(session, objective_row_id=row.id)
    for objective_id, row in rows.items():
        if objective_id not in incoming and not row.ended:
            retire_removed_tiers(session, row, set(), now=now)  # an objective the terms dropped stops alerting
            row.active, row.ended, row.agreement_version, row.updated_at = False, True, agreement.version, now
    await repository.drop_pending(
        session, tenant=tenant, agreement_id=agreement.agreement_id, up_to_version=agreement.version
    )
    await session.flush()
    await observation_service.refresh_objectives(session, tenant=tenant, agreement_id=agreement.agreement_id)


async def apply_pending(session: AsyncSession, pending: PendingActivation) -> None:
    """Apply a pending version whose effective instant has come."""
    agreement = payloads_v2.agreement_activated(stored_type(pending.payload), pending.payload)
    existing = await repository.agreement_objectives(session, tenant=pending.tenant, agreement_id=pending.agreement_id)
    await session.delete(pending)
    if any(o.agreement_version > agreement.version for o in existing):
        return
    await _apply_now(session, tenant=pending.tenant, agreement=agreement, existing=existing, now=utcnow())


async def expire_objectives(session: AsyncSession, *, now: datetime) -> int:
    """Activate objectives whose start has come and stop those whose agreement's end has passed."""
    changed = 0
    rows = await session.scalars(
        select(Objective).where(
            col(Objective.effective_from) <= now,
            (col(Objective.effective_to).is_(None)) | (col(Objective.effective_to) > now),
            col(Objective.active).is_(False),
            col(Objective.ended).is_(False),
        )
    )
    for row in rows:
        row.active, row.needs_evaluation, row.updated_at = True, True, now
        changed += 1
    expired = await session.scalars(
        select(Objective).where(col(Objective.active).is_(True), col(Objective.effective_to) <= now)
    )
    for row in expired:
        retire_removed_tiers(session, row, set(), now=now)  # an ended objective stops alerting
        row.active, row.ended, row.needs_evaluation, row.updated_at = False, True, False, now
        changed += 1
    await session.flush()
    return changed


async def apply_end(session: AsyncSession, *, tenant: str, ended: AgreementEndedV1) -> int:
    """Stop evaluating the agreement's objectives of this version or older; returns how many.

    A superseded version keeps being evaluated until its successor's activation takes over (at the
    successor's start), whichever of the two events arrives first.
    """
    count = 0
    if ended.reason == "superseded":
        return 0
    for row in await repository.agreement_objectives(session, tenant=tenant, agreement_id=ended.agreement_id):
        if row.agreement_version <= ended.version and not row.ended:
            retire_removed_tiers(session, row, set(), now=utcnow())  # an ended objective stops alerting
            row.active, row.ended, row.needs_evaluation, row.updated_at = False, True, False, utcnow()
            count += 1
    await repository.drop_pending(session, tenant=tenant, agreement_id=ended.agreement_id, up_to_version=ended.version)
    await session.flush()
    return count
