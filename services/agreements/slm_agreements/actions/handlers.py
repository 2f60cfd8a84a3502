"""A breach reported by measurement opens an improvement action on the breached objective."""

from __future__ import annotations

from datetime import timedelta

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from slm_agreements import repository
from slm_agreements.actions import service
from slm_agreements.actions.models import ImprovementAction
from slm_agreements.actions.schemas import ActionCreate
from slm_agreements.models import AgreementObjective
from slm_shared.bus import Handler
from slm_shared.bus.inbox import PermanentError
from slm_shared.contracts import EVENTS, CloudEvent
from slm_shared.contracts.payloads import ObjectiveStatusV1

BREACH_ACTION_DAYS = 7


async def on_objective_breached(session: AsyncSession, event: CloudEvent) -> None:
    """Open one action per breached objective (none while an earlier one is still open)."""
    try:
        data = event.payload(ObjectiveStatusV1)
    except ValidationError as exc:
        raise PermanentError(f"{event.type} payload does not match its contract: {exc}") from exc
    agreement = await repository.get_agreement(session, tenant=event.tenant, agreement_id=data.agreement_id)
    if agreement is None:
        return
    # Measurement may judge an objective the agreement does not list (ticket compliance): link none, name it.
    known = await session.scalar(
        select(col(AgreementObjective.id))
        .where(col(AgreementObjective.tenant) == event.tenant, col(AgreementObjective.agreement_id) == agreement.id)
        .where(col(AgreementObjective.id) == data.objective_id)
        .limit(1)
    )
    objective_id = data.objective_id if known is not None else None
    title = f"Restore {data.indicator} of {data.service_key}"
    same = (
        col(ImprovementAction.objective_id) == objective_id
        if objective_id is not None
        else (col(ImprovementAction.objective_id).is_(None)) & (col(ImprovementAction.title) == title)
    )
    still_open = await session.scalar(
        select(col(ImprovementAction.id))
        .where(
            col(ImprovementAction.tenant) == event.tenant,
            col(ImprovementAction.agreement_id) == agreement.id,
            same,
            col(ImprovementAction.source) == "breach",
            col(ImprovementAction.status).in_(service.OPEN),
        )
        .limit(1)
    )
    if still_open is not None:
        return
    attainment = f"{data.attainment:.4%}" if data.attainment is not None else "unknown"
    action = ActionCreate(
        title=title,
        description=(
            f"Objective {data.objective_id}: attainment {attainment} against a target of {data.objective:.4%} "
            f"(window {data.window_start:%Y-%m-%d} to {data.window_end:%Y-%m-%d})."
        ),
        owner=await service.default_owner(session, agreement) or service.UNASSIGNED,
        due_on=(data.observed_at + timedelta(days=BREACH_ACTION_DAYS)).date(),
        source="breach",
        objective_id=objective_id,
        breach_ref=event.id,
    )
    await service.create_action(session, agreement=agreement, data=action, created_by="system")


ACTION_HANDLERS: dict[str, Handler] = {EVENTS.objective_breached.type: on_objective_breached}
