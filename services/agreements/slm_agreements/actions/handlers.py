"""A breach reported by measurement opens an improvement action on the breached objective."""

from __future__ import annotations

from datetime import timedelta

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from slm_agreements import repository
from slm_agreements.actions import service
from slm_agreements.actions.models import ImprovementAction
from slm_agreements.actions.schemas import ActionCreate
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
    still_open = await session.scalar(
        select(ImprovementAction.id)
        .where(
            ImprovementAction.tenant == event.tenant,
            ImprovementAction.agreement_id == agreement.id,
            ImprovementAction.objective_id == data.objective_id,
            ImprovementAction.source == "breach",
            ImprovementAction.status.in_(service.OPEN),  # type: ignore[attr-defined]
        )
        .limit(1)
    )
    if still_open is not None:
        return
    attainment = f"{data.attainment:.4%}" if data.attainment is not None else "unknown"
    action = ActionCreate(
        title=f"Restore {data.indicator} of {data.service_key}",
        description=(
            f"Attainment {attainment} against an objective of {data.objective:.4%} "
            f"(window {data.window_start:%Y-%m-%d} to {data.window_end:%Y-%m-%d})."
        ),
        owner=agreement.created_by,
        due_on=(data.observed_at + timedelta(days=BREACH_ACTION_DAYS)).date(),
        source="breach",
        objective_id=data.objective_id,
        breach_ref=event.id,
    )
    await service.create_action(session, agreement=agreement, data=action, created_by="system")


ACTION_HANDLERS: dict[str, Handler] = {EVENTS.objective_breached.type: on_objective_breached}
