"""Measurement's word on an activated version: a refusal marks the agreement "not measured" with the reason."""

from __future__ import annotations

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from slm_agreements import repository
from slm_shared.bus import Handler
from slm_shared.bus.dead_letters import PermanentError
from slm_shared.contracts import EVENTS, CloudEvent
from slm_shared.contracts.payloads import AgreementNotMeasuredV1


async def on_agreement_not_measured(session: AsyncSession, event: CloudEvent) -> None:
    """Show on the agreement that its version is not measured, unless a newer version has since been activated."""
    try:
        data = event.payload(AgreementNotMeasuredV1)
    except ValidationError as exc:
        raise PermanentError(f"{event.type} payload does not match its contract: {exc}") from exc
    agreement = await repository.get_agreement(session, tenant=event.tenant, agreement_id=data.agreement_id)
    if agreement is None or (agreement.in_force_version or 0) > data.version:
        return
    agreement.not_measured = {
        "version": data.version,
        "reason": data.reason,
        "field": data.field,
        "observed_at": data.observed_at.isoformat(),
    }
    await session.flush()


MEASURED_HANDLERS: dict[str, Handler] = {EVENTS.agreement_not_measured.type: on_agreement_not_measured}
