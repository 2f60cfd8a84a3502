"""Activation: check every rule, then put a version in force, superseding the one it amends."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from slm_agreements import events, in_force, repository, service
from slm_agreements.activation import rules
from slm_agreements.catalog.client import CatalogClient
from slm_agreements.catalog.dependencies import supporting_services
from slm_agreements.catalog.read_model import calendar_document, indicator_kinds
from slm_agreements.models import Agreement
from slm_agreements.negotiation.service import _check, _touch
from slm_agreements.reviews import service as reviews
from slm_shared.auth import Principal
from slm_shared.contracts.targets import Target
from slm_shared.db import Database, lock_for_rule, utcnow
from slm_shared.errors import FieldError, Unprocessable

SUPPORTING_KINDS = ("OLA", "UC")


@dataclass
class CatalogFacts:
    """What the catalogue says about an agreement's indicators, supporting services and support calendar."""

    indicator_kinds: dict[str, str | None] = field(default_factory=dict)
    supporting: list[tuple[str, str]] = field(default_factory=list)
    calendar: dict[str, Any] | None = None


async def gather_facts(db: Database, client: CatalogClient, *, principal: Principal, agreement_id: str) -> CatalogFacts:
    """Read the catalogue (read model first, REST when empty) before the request's transaction takes locks."""
    async with db.session() as session:
        agreement = await repository.get_agreement(session, tenant=principal.tenant, agreement_id=agreement_id)
        if agreement is None or principal.is_customer_only or agreement.state != "agreed":
            return CatalogFacts()  # the transition itself reports what is wrong
        objectives = await repository.objectives_of(session, agreement)
        version = await service.head_version(session, agreement)
        kind, service_id, calendar_key = agreement.kind, agreement.service_id, version.support_calendar
    tenant = principal.tenant
    facts = CatalogFacts()
    facts.indicator_kinds = await indicator_kinds(db, client, tenant=tenant, keys={o.indicator for o in objectives})
    if kind == "SLA":
        found = await supporting_services(db, client, tenant=tenant, service_id=service_id)
        facts.supporting = [(s.id, s.key) for s in found]
    if calendar_key:
        facts.calendar = await calendar_document(db, client, tenant=tenant, key=calendar_key)
    return facts


async def _commitments(session: AsyncSession, tenant: str, service_ids: list[str]) -> dict[str, list[rules.Commitment]]:
    in_force = await repository.versions_in_force(
        session, tenant=tenant, service_ids=service_ids, kinds=SUPPORTING_KINDS
    )
    objectives = await repository.objectives_of_versions(
        session, tenant=tenant, keys=[(a.id, v.version) for a, v in in_force]
    )
    found: dict[str, list[rules.Commitment]] = {}
    for agreement, version in in_force:
        targets = [Target.model_validate(o.model_dump()) for o in objectives[(agreement.id, version.version)]]
        commitment = rules.Commitment(agreement.id, agreement.kind, rules.availability_commitment(targets))
        found.setdefault(agreement.service_id, []).append(commitment)
    return found


def _refusal(gaps: list[rules.Gap], override: bool) -> Unprocessable:
    blocking = [g for g in gaps if not (override and g.overridable)]
    detail = f"The agreement cannot be activated: {len(blocking)} gap(s). " + "; ".join(g.message for g in blocking)
    if any(g.overridable for g in blocking):
        detail += ". A manager may accept the chain gaps as a risk with override=true"
    return Unprocessable(
        detail,
        errors=[FieldError(field=g.field, message=g.message, type=g.rule) for g in blocking],
        problem_type="activation-refused",
        extra={"gaps": [g.as_dict() for g in blocking]},
    )


async def activation_gaps(session: AsyncSession, agreement: Agreement, facts: CatalogFacts) -> list[rules.Gap]:
    """Every rule the agreement's newest version breaks."""
    version = await service.head_version(session, agreement)
    objectives = await repository.objectives_of(session, agreement)
    targets = [Target.model_validate(o.model_dump()) for o in objectives]
    gaps = rules.measurability_gaps(targets, facts.indicator_kinds)
    gaps += rules.date_gaps(version.effective_from, version.effective_to, version.renewal_notice_days, utcnow())
    await lock_for_rule(session, f"{agreement.tenant}/in-force/{agreement.consumer_party_id}/{agreement.service_id}")
    others = await repository.versions_in_force(
        session,
        tenant=agreement.tenant,
        service_ids=[agreement.service_id],
        consumer_party_id=agreement.consumer_party_id,
        exclude_agreement_id=agreement.id,
    )
    gaps += rules.overlap_gaps(
        version.effective_from,
        version.effective_to,
        [rules.OtherAgreement(a.id, a.name, v.effective_from, v.effective_to) for a, v in others],
    )
    if agreement.kind == "SLA" and facts.supporting:
        commitments = await _commitments(session, agreement.tenant, [s for s, _ in facts.supporting])
        gaps += rules.chain_gaps(targets, facts.supporting, commitments)
    return gaps


async def activate(
    session: AsyncSession,
    *,
    principal: Principal,
    agreement: Agreement,
    facts: CatalogFacts,
    override: bool,
    comment: str | None,
) -> Agreement:
    """Put the agreed version in force if every rule holds (chain gaps only with an override, kept as risks)."""
    actor = service.actor_for(principal)
    before = agreement.state
    after = _check("activate", actor, agreement)
    gaps = await activation_gaps(session, agreement, facts)
    if any(not (override and g.overridable) for g in gaps):
        raise _refusal(gaps, override)
    now = utcnow()
    version = await service.head_version(session, agreement)
    version.risks = [{**g.as_dict(), "accepted_by": actor.subject, "accepted_at": now.isoformat()} for g in gaps]
    if agreement.in_force_version is not None:
        superseded = await repository.get_version(session, agreement, agreement.in_force_version)
        assert superseded is not None
        superseded.status = "superseded"
        events.agreement_ended(session, agreement, superseded.version, "superseded")
    version.status, version.activated_at = "active", now
    agreement.in_force_version = version.version
    agreement.offering_id, agreement.offering_version = version.offering_id, version.offering_version
    agreement.standard_targets = version.standard_targets
    agreement.activated_at = now
    agreement.not_measured = None
    await session.flush()
    await in_force.refresh_spans(session, agreement)
    _touch(agreement, after)
    if gaps:
        risk = "activated with accepted chain risks: " + "; ".join(g.message for g in gaps)
        comment = f"{comment} ({risk})" if comment else risk
    service.record(session, agreement, "activate", before, actor, comment)
    objectives = await repository.objectives_of(session, agreement)
    events.agreement_activated(session, agreement, version, objectives, facts.calendar)
    await reviews.schedule(session, agreement, version, today=now.date())
    await session.flush()
    return agreement
