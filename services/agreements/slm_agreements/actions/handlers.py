"""A breach reported by measurement opens an improvement action on the breached objective."""

from __future__ import annotations

from datetime import timedelta

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from slm_agreements import repository
from slm_agreements.actions import service as actions
from slm_agreements.actions.models import ImprovementAction
from slm_agreements.actions.schemas import ActionCreate
from slm_agreements.models import AgreementObjective
from slm_shared.bus import Handler
from slm_shared.bus.dead_letters import PermanentError
from slm_shared.contracts import EVENTS, CloudEvent
from slm_shared.contracts.action_titles import BREACHED, RESTORE, render_description, render_title
from slm_shared.contracts.payloads import ChangeStatusChangedV1, ObjectiveStatusV1

BREACH_ACTION_DAYS = 7


async def on_objective_breached(session: AsyncSession, event: CloudEvent) -> None:
    """Open one action per breached objective (none while an earlier one is still open)."""
    try:
        data = event.payload(ObjectiveStatusV1)
    except ValidationError as exc:
        raise PermanentError(f"{event.type} payload does not match its contract: {exc}") from exc
    found = await repository.agreement_with_service_name(session, tenant=event.tenant, agreement_id=data.agreement_id)
    if found is None:
        return
    agreement, service_name = found  # the name for the title
    # Measurement may judge an objective the agreement does not list (ticket compliance): link none, name it.
    known = (
        await session.execute(
            select(col(AgreementObjective.id), col(AgreementObjective.name))
            .where(col(AgreementObjective.tenant) == event.tenant)
            .where(col(AgreementObjective.agreement_id) == agreement.id)
            .where(col(AgreementObjective.id) == data.objective_id)
            .order_by(col(AgreementObjective.agreement_version).desc())
            .limit(1)
        )
    ).first()
    objective_id = data.objective_id if known is not None else None
    params = {"indicator": data.indicator, "service_key": data.service_key}
    if service_name:
        params["service_name"] = service_name
    title = render_title(RESTORE, params, "en", f"Restore {data.indicator} of {data.service_key}")
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
            col(ImprovementAction.status).in_(actions.OPEN),
        )
        .limit(1)
    )
    if still_open is not None:
        return
    facts = {
        "indicator": data.indicator,
        "target": repr(data.objective),
        "attainment": repr(data.attainment) if data.attainment is not None else "",
        "window_start": f"{data.window_start:%Y-%m-%d}",
        "window_end": f"{data.window_end:%Y-%m-%d}",
    }
    if known is not None and known[1]:
        facts["objective_name"] = known[1]
    parties = await actions.parties_of_agreement(session, agreement)  # read once: the default owner is one of theirs
    action = ActionCreate(
        title=title,
        description=render_description(BREACHED, facts, "en", ""),
        owner=actions.default_owner(parties) or actions.UNASSIGNED,
        due_on=(data.observed_at + timedelta(days=BREACH_ACTION_DAYS)).date(),
        source="breach",
        objective_id=objective_id,
        breach_ref=event.id,
    )
    await actions.create_action(
        session,
        agreement=agreement,
        data=action,
        created_by="system",
        title_key=RESTORE,
        title_params=params,
        description_key=BREACHED,
        description_params=facts,
        parties=parties,
        objective_checked=objective_id is not None,  # `known` above: the agreement lists it
    )


async def on_change_status_changed(session: AsyncSession, event: CloudEvent) -> None:
    """The ITSM tool created the action's change or moved it on: keep its status and reference (the newest
    observation wins, whatever order the events come in) and tell the action's readers."""
    try:
        data = event.payload(ChangeStatusChangedV1)
    except ValidationError as exc:
        raise PermanentError(f"{event.type} payload does not match its contract: {exc}") from exc
    action = await session.scalar(
        select(ImprovementAction)
        .where(col(ImprovementAction.tenant) == event.tenant, col(ImprovementAction.id) == data.action_id)
        .with_for_update()
    )
    if action is None or action.change_request_id != data.change_request_id:
        return
    if action.change_status_at is not None and data.observed_at <= action.change_status_at:
        return
    await actions.record_change_status(session, action=action, data=data)


ACTION_HANDLERS: dict[str, Handler] = {
    EVENTS.objective_breached.type: on_objective_breached,
    EVENTS.change_status_changed.type: on_change_status_changed,
}
