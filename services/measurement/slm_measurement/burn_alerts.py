"""Burn-rate tier announcements: a tier started or stopped firing, and firing tiers that new terms retire.

It sits below the read model and the evaluation service, which both announce through it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeAlias

from sqlalchemy.ext.asyncio import AsyncSession

from slm_measurement.domain.alerts import AlertChange, TierState, tiers_of
from slm_measurement.domain.windows import format_duration
from slm_measurement.models import Objective
from slm_measurement.policy import budget_runs_out
from slm_shared.bus import record_event
from slm_shared.contracts import EVENTS
from slm_shared.contracts.payloads import BurnAlertV1


@dataclass(frozen=True, slots=True)
class AnnouncedColumns:
    """An objective's announced columns as an evaluation leaves them, without building an `Objective` entity
    (on the breach's path: an entity's construction costs more than the events it announces)."""

    id: str
    tenant: str
    agreement_id: str
    objective_id: str
    name: str | None
    service_key: str
    indicator: str
    consumer_party_id: str | None
    target: float
    status: str
    attainment: float | None
    good: float
    total: float
    details: dict[str, Any] | None
    window_start: datetime | None
    window_end: datetime | None


# What an objective's status and burn-rate events say of it: the entity, or its columns as an evaluation left them.
Announced: TypeAlias = Objective | AnnouncedColumns


def burn_alert_changed(
    session: AsyncSession, objective: Announced, change: AlertChange, *, observed_at: datetime
) -> None:
    """Record that a burn-rate tier started or stopped firing."""
    state = change.state
    record_event(
        session,
        EVENTS.objective_burn_alert,
        tenant=objective.tenant,
        subject=objective.objective_id,
        data=BurnAlertV1(
            agreement_id=objective.agreement_id,
            objective_id=objective.objective_id,
            objective_row_id=objective.id,
            service_key=objective.service_key,
            indicator=objective.indicator,
            consumer_party_id=objective.consumer_party_id,
            tier=state.tier.name,
            severity=state.tier.severity,
            firing=change.firing,
            long_window=format_duration(state.tier.long_window),
            short_window=format_duration(state.tier.short_window),
            long_burn_rate=state.long_burn,
            short_burn_rate=state.short_burn,
            threshold_factor=state.factor,
            budget_share=state.tier.budget_share,
            objective=objective.target,
            observed_at=observed_at,
            objective_name=objective.name,
            budget_exhausted_at=budget_runs_out(objective.details or {}),
        ),
    )


def retire_removed_tiers(session: AsyncSession, objective: Objective, kept: set[str], *, now: datetime) -> None:
    """Announce that every firing tier the new policy no longer has has stopped firing, and forget it."""
    firing = set(objective.firing_alerts or [])
    removed = firing - kept
    if not removed:
        return
    last = {a["name"]: a for a in (objective.details or {}).get("alerts", [])}
    for tier in tiers_of(objective.alert_policy):
        if tier.name in removed:
            seen = last.get(tier.name, {})
            state = TierState(tier, float(seen.get("factor", 0.0)), seen.get("long_burn"), seen.get("short_burn"))
            burn_alert_changed(session, objective, AlertChange(state, firing=False), observed_at=now)
    objective.firing_alerts = sorted(firing & kept)
