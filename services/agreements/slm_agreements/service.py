"""Parties and agreements: creation, visibility, the audit trail and representations."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from slm_agreements import events, in_force, lifecycle, repository
from slm_agreements.catalog import repository as catalog_repository
from slm_agreements.lifecycle import Actor, Parties
from slm_agreements.models import Agreement, AgreementHistory, AgreementObjective, AgreementVersion, Party, new_id
from slm_agreements.objectives import ObjectiveDraft, measurability_problems, merge_objectives, objective_problems
from slm_agreements.schemas import AgreementCreate, AgreementPublic, PartyCreate, PartyUpdate, VersionPublic
from slm_agreements.terms import date_problems
from slm_shared.auth import ADMIN, Principal
from slm_shared.contracts.targets import Target
from slm_shared.db import utcnow
from slm_shared.errors import FieldError, NotFound, Unprocessable
from slm_shared.terms import credits as credit_rules


def actor_for(principal: Principal) -> Actor:
    """The lifecycle's view of who is calling."""
    if principal.is_customer_only:
        return Actor(subject=principal.subject, role="customer", is_staff=False, party=principal.party)
    role = ADMIN if ADMIN in principal.roles else "manager"
    return Actor(subject=principal.subject, role=role, is_staff=True, party=principal.party)


def invalid(errors: dict[str, str]) -> Unprocessable:
    """A 422 problem naming every refused field."""
    detail = "; ".join(f"{field}: {message}" for field, message in errors.items())
    return Unprocessable(detail, errors=[FieldError(field=f, message=m) for f, m in errors.items()])


async def create_party(session: AsyncSession, *, tenant: str, data: PartyCreate) -> Party:
    """Register a customer, internal team or supplier."""
    party = Party(
        tenant=tenant,
        name=data.name,
        kind=data.kind,
        contacts=[c.model_dump() for c in data.contacts],
        escalation_seconds=data.escalation_seconds,
    )
    session.add(party)
    await session.flush()
    events.party_changed(session, party, created=True)
    return party


async def update_party(session: AsyncSession, *, party: Party, data: PartyUpdate) -> Party:
    """Change a party's name, contacts or escalation time; notifiers hear of it."""
    changes = data.model_dump(exclude_unset=True)
    if "contacts" in changes:
        changes["contacts"] = [c.model_dump() for c in data.contacts or []]
    for name, value in changes.items():
        setattr(party, name, value)
    party.version += 1
    party.updated_at = utcnow()
    await session.flush()
    events.party_changed(session, party, created=False)
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
        raise invalid({field: f"no party {party_id}"})
    return party


def parties_of(consumer: Party, provider: Party | None) -> Parties:
    return Parties(
        consumer_party_id=consumer.id,
        consumer_kind=consumer.kind,  # type: ignore[arg-type]
        provider_party_id=provider.id if provider else None,
        provider_kind=provider.kind if provider else None,  # type: ignore[arg-type]
    )


async def agreement_parties(session: AsyncSession, agreement: Agreement) -> Parties:
    """Both sides of an agreement, with their kinds."""
    consumer = await repository.get_party(session, tenant=agreement.tenant, party_id=agreement.consumer_party_id)
    provider = (
        await repository.get_party(session, tenant=agreement.tenant, party_id=agreement.provider_party_id)
        if agreement.provider_party_id
        else None
    )
    assert consumer is not None
    return parties_of(consumer, provider)


def _drafts(data: AgreementCreate, offering_targets: list[Target]) -> list[ObjectiveDraft]:
    overrides = [
        ObjectiveDraft(target=Target.model_validate(o.model_dump(exclude={"name"})), name=o.name)
        for o in data.objectives
    ]
    if problems := objective_problems(overrides):
        raise invalid(problems)
    overridden = {o.target.indicator for o in overrides}
    unmeasurable = [
        f"{target.indicator}: {'; '.join(problems.values())}"
        for target in offering_targets
        if target.indicator not in overridden and (problems := measurability_problems(target))
    ]
    if unmeasurable:
        raise invalid({"offering_id": "the offering's targets are not measurable: " + " | ".join(unmeasurable)})
    drafts = merge_objectives(offering_targets, overrides)
    if not drafts:
        raise invalid({"objectives": "an agreement needs at least one objective"})
    return drafts


def objective_rows(
    agreement: Agreement, version: int, drafts: Sequence[tuple[str | None, ObjectiveDraft]]
) -> list[AgreementObjective]:
    """Objective rows of one version; an id carried over keeps the objective's identity across versions."""
    return [
        AgreementObjective(
            id=objective_id or new_id(),
            tenant=agreement.tenant,
            agreement_id=agreement.id,
            agreement_version=version,
            position=position,
            name=draft.name,
            customer_specific=draft.customer_specific,
            **draft.target.model_dump(mode="json"),
        )
        for position, (objective_id, draft) in enumerate(drafts)
    ]


async def create_agreement(
    session: AsyncSession, *, principal: Principal, data: AgreementCreate, requirement: dict[str, Any] | None = None
) -> Agreement:
    """Draft an agreement on an offering, copying the offering's targets, ticket targets, credits and price."""
    tenant = principal.tenant
    offering = await catalog_repository.get_catalog_offering(session, tenant=tenant, offering_id=data.offering_id)
    if offering is None:
        raise invalid({"offering_id": f"offering {data.offering_id} is not in the catalogue"})
    if offering.service_id != data.service_id:
        raise invalid({"service_id": f"offering {offering.id} belongs to service {offering.service_id}"})
    if offering.status != "published":
        raise invalid({"offering_id": f"offering {offering.id} is {offering.status}; it takes no new agreements"})
    catalog_service = await catalog_repository.get_catalog_service(
        session, tenant=tenant, service_id=offering.service_id
    )
    if catalog_service is not None and catalog_service.lifecycle == "retired":
        raise invalid({"service_id": f"service {catalog_service.key} is retired; it takes no new agreements"})
    consumer = await _existing_party(session, tenant, data.consumer_party_id, "consumer_party_id")
    provider = await _existing_party(session, tenant, data.provider_party_id, "provider_party_id")
    assert consumer is not None
    if problems := lifecycle.party_kind_problems(data.kind, parties_of(consumer, provider)):
        raise invalid(problems)
    effective_from = data.effective_from or utcnow()
    if problems := date_problems(effective_from, data.effective_to, data.renewal_notice_days):
        raise invalid(problems)
    standard = [Target.model_validate(t) for t in offering.targets]
    drafts = _drafts(data, standard)
    if data.service_credits is not None and (
        problems := credit_rules.indicator_problems(data.service_credits, {d.target.indicator for d in drafts})
    ):
        raise invalid({f"service_credits.{index}.indicator": reason for index, reason in problems.items()})
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
        review_cycle=data.review_cycle or "quarterly",
        effective_from=effective_from,
        effective_to=data.effective_to,
        standard_targets=[t.model_dump(mode="json") for t in standard],
        requirement=requirement,
        created_by=actor.subject,
    )
    session.add(agreement)
    await session.flush()
    given = data.model_fields_set

    def term(name: str, offered: Any) -> Any:
        value = getattr(data, name)
        if name not in given:
            return offered
        if isinstance(value, list):
            return [item.model_dump(mode="json") for item in value]
        return value.model_dump(mode="json") if hasattr(value, "model_dump") else value

    credits = [] if data.kind == "expectation" else term("service_credits", offering.service_credits)
    session.add(
        AgreementVersion(
            agreement_id=agreement.id,
            version=1,
            tenant=tenant,
            created_by=actor.subject,
            effective_from=effective_from,
            effective_to=data.effective_to,
            review_cycle=agreement.review_cycle,
            renewal_notice_days=data.renewal_notice_days,
            timezone=data.timezone or "UTC",
            support_calendar=term("support_calendar", offering.support_calendar),
            price=term("price", offering.price),
            ticket_targets=term("ticket_targets", offering.ticket_targets),
            service_credits=credits,
            maintenance_windows=term("maintenance_windows", []),
            credit_terms=term("credit_terms", None),
            observation_terms=term("observation_terms", None),
            measured_scope=term("measured_scope", None),
            offering_id=agreement.offering_id,
            offering_version=agreement.offering_version,
            standard_targets=agreement.standard_targets,
        )
    )
    session.add_all(objective_rows(agreement, 1, [(None, draft) for draft in drafts]))
    record(session, agreement, "created", None, actor, None)
    await session.flush()
    return agreement


def visible_to_customer(agreement: Agreement) -> bool:
    """Customers see an agreement once proposed to them, or while a version of it is in force."""
    return agreement.state != "draft" or agreement.in_force_version is not None


async def require_agreement(
    session: AsyncSession, *, principal: Principal, agreement_id: str, for_update: bool = False
) -> Agreement:
    """The agreement, if the caller may see it: customers see their own, once proposed."""
    agreement = await repository.get_agreement(
        session, tenant=principal.tenant, agreement_id=agreement_id, for_update=for_update
    )
    if agreement is None or (
        principal.is_customer_only
        and (agreement.consumer_party_id != principal.party or not visible_to_customer(agreement))
    ):
        raise NotFound(f"No agreement {agreement_id}")
    return agreement


def record(
    session: AsyncSession,
    agreement: Agreement,
    action: str,
    from_state: str | None,
    actor: Actor,
    comment: str | None,
    sides: Iterable[str] = (),
) -> None:
    """Add an entry to the audit trail."""
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


async def head_version(session: AsyncSession, agreement: Agreement) -> AgreementVersion:
    version = await repository.get_version(session, agreement, agreement.version)
    assert version is not None
    return version


async def describe_version(session: AsyncSession, agreement: Agreement, version: AgreementVersion) -> VersionPublic:
    """One version with its objectives and acceptances."""
    objectives = await repository.objectives_of(session, agreement, version.version)
    acceptances = await repository.acceptances_of(session, agreement, version.version)
    return VersionPublic.model_validate({**version.model_dump(), "objectives": objectives, "acceptances": acceptances})


async def describe(
    session: AsyncSession, agreement: Agreement, *, principal: Principal | None = None
) -> AgreementPublic:
    """The agreement with its newest version's terms; a customer sees the version in force over a draft."""
    number = agreement.version
    if (
        principal is not None
        and principal.is_customer_only
        and agreement.state == "draft"
        and agreement.in_force_version
    ):
        number = agreement.in_force_version
    version = await repository.get_version(session, agreement, number)
    assert version is not None
    terms = (await describe_version(session, agreement, version)).model_dump(
        exclude={
            "agreement_id",
            "version",
            "status",
            "proposed_by",
            "based_on",
            "created_by",
            "created_at",
            "offering_id",
            "offering_version",
        }
    )
    current = await in_force.version_at(session, agreement, utcnow())
    return AgreementPublic.model_validate(
        {**agreement.model_dump(), **terms, "in_force_version": current.version if current else None}
    )
