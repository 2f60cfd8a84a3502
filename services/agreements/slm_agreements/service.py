"""Agreements domain operations; HTTP and NATS stay outside, events go through the outbox."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.ext.asyncio import AsyncSession

from slm_agreements import events, lifecycle, repository
from slm_agreements.lifecycle import Action, Actor, Parties
from slm_agreements.models import Agreement, AgreementAcceptance, AgreementHistory, AgreementObjective, Party
from slm_agreements.objectives import ObjectiveDraft, measurability_problems, merge_objectives, objective_problems
from slm_agreements.schemas import AgreementCreate, AgreementPublic, PartyCreate
from slm_shared.auth import ADMIN, Principal
from slm_shared.contracts.payloads import TargetV1
from slm_shared.db import utcnow
from slm_shared.errors import Conflict, FieldError, Forbidden, NotFound, Unprocessable


def actor_for(principal: Principal) -> Actor:
    """The lifecycle's view of who is calling."""
    if principal.is_customer_only:
        return Actor(subject=principal.subject, role="customer", is_staff=False, party=principal.party)
    role = ADMIN if ADMIN in principal.roles else "manager"
    return Actor(subject=principal.subject, role=role, is_staff=True, party=principal.party)


def _invalid(errors: dict[str, str]) -> Unprocessable:
    detail = "; ".join(f"{field}: {message}" for field, message in errors.items())
    return Unprocessable(detail, errors=[FieldError(field=f, message=m) for f, m in errors.items()])


async def create_party(session: AsyncSession, *, tenant: str, data: PartyCreate) -> Party:
    """Register a customer, internal team or supplier."""
    party = Party(tenant=tenant, name=data.name, kind=data.kind, contacts=[c.model_dump() for c in data.contacts])
    session.add(party)
    await session.flush()
    return party


async def require_party(session: AsyncSession, *, principal: Principal, party_id: str) -> Party:
    """The party, if the caller may see it (a customer sees only its own)."""
    party = await repository.get_party(session, tenant=principal.tenant, party_id=party_id)
    if party is None or (principal.is_customer_only and party.id != principal.party):
        raise NotFound(f"No party {party_id}")
    return party


async def _existing_party(session: AsyncSession, tenant: str, party_id: str | None, field: str) -> Party | None:
    if party_id is None:
        return None
    party = await repository.get_party(session, tenant=tenant, party_id=party_id)
    if party is None:
        raise _invalid({field: f"no party {party_id}"})
    return party


def _parties(consumer: Party, provider: Party | None) -> Parties:
    return Parties(
        consumer_party_id=consumer.id,
        consumer_kind=consumer.kind,  # type: ignore[arg-type]
        provider_party_id=provider.id if provider else None,
        provider_kind=provider.kind if provider else None,  # type: ignore[arg-type]
    )


def _drafts(data: AgreementCreate, offering_targets: list[TargetV1]) -> list[ObjectiveDraft]:
    overrides = [
        ObjectiveDraft(target=TargetV1.model_validate(o.model_dump(exclude={"name"})), name=o.name)
        for o in data.objectives
    ]
    if problems := objective_problems(overrides):
        raise _invalid(problems)
    overridden = {o.target.indicator for o in overrides}
    unmeasurable = [
        f"{target.indicator}: {'; '.join(problems.values())}"
        for target in offering_targets
        if target.indicator not in overridden and (problems := measurability_problems(target))
    ]
    if unmeasurable:
        raise _invalid({"offering_id": "the offering's targets are not measurable: " + " | ".join(unmeasurable)})
    drafts = merge_objectives(offering_targets, overrides)
    if not drafts:
        raise _invalid({"objectives": "an agreement needs at least one objective"})
    return drafts


async def create_agreement(session: AsyncSession, *, principal: Principal, data: AgreementCreate) -> Agreement:
    """Draft an agreement on an offering, copying the offering's targets as its objectives."""
    tenant = principal.tenant
    offering = await repository.get_catalog_offering(session, tenant=tenant, offering_id=data.offering_id)
    if offering is None:
        raise _invalid({"offering_id": f"offering {data.offering_id} is not in the catalogue"})
    if offering.service_id != data.service_id:
        raise _invalid({"service_id": f"offering {offering.id} belongs to service {offering.service_id}"})
    consumer = await _existing_party(session, tenant, data.consumer_party_id, "consumer_party_id")
    provider = await _existing_party(session, tenant, data.provider_party_id, "provider_party_id")
    assert consumer is not None
    if problems := lifecycle.party_kind_problems(data.kind, _parties(consumer, provider)):
        raise _invalid(problems)
    effective_from = data.effective_from or utcnow()
    if data.effective_to is not None and data.effective_to <= effective_from:
        raise _invalid({"effective_to": "must be after effective_from"})
    drafts = _drafts(data, [TargetV1.model_validate(t) for t in offering.targets])
    actor = actor_for(principal)
    agreement = Agreement(
        tenant=tenant,
        kind=data.kind,
        name=data.name,
        service_id=offering.service_id,
        service_key=offering.service_key,
        offering_id=offering.id,
        offering_version=offering.version,
        provider_party_id=provider.id if provider else None,
        consumer_party_id=consumer.id,
        review_cycle=data.review_cycle,
        effective_from=effective_from,
        effective_to=data.effective_to,
        created_by=actor.subject,
    )
    session.add(agreement)
    await session.flush()
    session.add_all(
        AgreementObjective(
            tenant=tenant,
            agreement_id=agreement.id,
            agreement_version=agreement.version,
            position=position,
            name=draft.name,
            customer_specific=draft.customer_specific,
            **draft.target.model_dump(mode="json"),
        )
        for position, draft in enumerate(drafts)
    )
    _record(session, agreement, "created", None, actor, None)
    await session.flush()
    return agreement


async def require_agreement(
    session: AsyncSession, *, principal: Principal, agreement_id: str, for_update: bool = False
) -> Agreement:
    """The agreement, if the caller may see it: customers see their own, once proposed."""
    agreement = await repository.get_agreement(
        session, tenant=principal.tenant, agreement_id=agreement_id, for_update=for_update
    )
    if agreement is None or (
        principal.is_customer_only and (agreement.consumer_party_id != principal.party or agreement.state == "draft")
    ):
        raise NotFound(f"No agreement {agreement_id}")
    return agreement


def _record(
    session: AsyncSession,
    agreement: Agreement,
    action: str,
    from_state: str | None,
    actor: Actor,
    comment: str | None,
    sides: Iterable[str] = (),
) -> None:
    session.add(
        AgreementHistory(
            tenant=agreement.tenant,
            agreement_id=agreement.id,
            agreement_version=agreement.version,
            action=action,
            from_state=from_state,
            to_state=agreement.state,
            sides=sorted(sides),
            actor_subject=actor.subject,
            actor_role=actor.role,
            comment=comment,
        )
    )


async def _accept(session: AsyncSession, agreement: Agreement, actor: Actor) -> tuple[str, frozenset[str]]:
    consumer = await repository.get_party(session, tenant=agreement.tenant, party_id=agreement.consumer_party_id)
    provider = (
        await repository.get_party(session, tenant=agreement.tenant, party_id=agreement.provider_party_id)
        if agreement.provider_party_id
        else None
    )
    assert consumer is not None
    already = frozenset(a.side for a in await repository.acceptances_of(session, agreement))
    outcome = lifecycle.accept(agreement.state, already, actor, _parties(consumer, provider))  # type: ignore[arg-type]
    session.add_all(
        AgreementAcceptance(
            tenant=agreement.tenant,
            agreement_id=agreement.id,
            agreement_version=agreement.version,
            side=side,
            actor_subject=actor.subject,
            actor_role=actor.role,
        )
        for side in sorted(outcome.added)
    )
    return outcome.state, outcome.added


async def transition(
    session: AsyncSession, *, principal: Principal, agreement: Agreement, action: Action, comment: str | None
) -> Agreement:
    """Move an agreement through its lifecycle, recording who did it; activation and ending emit events."""
    actor = actor_for(principal)
    before = agreement.state
    sides: frozenset[str] = frozenset()
    try:
        lifecycle.check_actor(action, actor)
        if action == "accept":
            after, sides = await _accept(session, agreement, actor)
        else:
            after = lifecycle.target_state(action, before)  # type: ignore[arg-type]
    except lifecycle.NotPermitted as exc:
        raise Forbidden(str(exc)) from exc
    except lifecycle.AlreadyAccepted as exc:
        raise Conflict(str(exc), extra={"state": before}) from exc
    except lifecycle.IllegalTransition as exc:
        raise Conflict(f"{exc}; the agreement is {before}", extra={"state": before}) from exc
    now = utcnow()
    agreement.state = after
    agreement.revision += 1
    agreement.updated_at = now
    if after == "active":
        agreement.activated_at = now
        events.agreement_activated(session, agreement, await repository.objectives_of(session, agreement))
    if after == "terminated":
        agreement.ended_at = now
        if before == "active":
            events.agreement_ended(session, agreement, "terminated")
    _record(session, agreement, action, before, actor, comment, sides)
    await session.flush()
    return agreement


async def describe(session: AsyncSession, agreement: Agreement) -> AgreementPublic:
    """The full representation: the agreement with its objectives and acceptances."""
    objectives = await repository.objectives_of(session, agreement)
    acceptances = await repository.acceptances_of(session, agreement)
    return AgreementPublic.model_validate(
        {**agreement.model_dump(), "objectives": objectives, "acceptances": acceptances}
    )
