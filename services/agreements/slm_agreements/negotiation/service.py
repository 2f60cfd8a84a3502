"""Negotiation: drafts edited, proposals and counter-proposals as immutable versions, acceptances, amendments."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from slm_agreements import events, in_force, lifecycle, repository, service
from slm_agreements.lifecycle import Action, Actor
from slm_agreements.models import Agreement, AgreementAcceptance, AgreementVersion
from slm_agreements.negotiation import terms
from slm_agreements.schemas import TermsChange
from slm_shared.auth import Principal
from slm_shared.db import utcnow
from slm_shared.errors import Conflict, Forbidden


def _check(action: Action, actor: Actor, agreement: Agreement) -> str:
    """The state `action` leads to, as a 403 or 409 problem when it may not be taken."""
    state = agreement.state
    try:
        lifecycle.check_actor(action, actor, state)  # type: ignore[arg-type]
        return lifecycle.target_state(action, state, in_force=agreement.in_force_version is not None)  # type: ignore[arg-type]
    except lifecycle.NotPermitted as exc:
        raise Forbidden(str(exc)) from exc
    except lifecycle.IllegalTransition as exc:
        raise Conflict(f"{exc}; the agreement is {state}", extra={"state": state}) from exc


def _touch(agreement: Agreement, state: str) -> None:
    agreement.state = state
    agreement.revision += 1
    agreement.updated_at = utcnow()


async def edit_draft(
    session: AsyncSession, *, principal: Principal, agreement: Agreement, changes: TermsChange
) -> Agreement:
    """Change the terms of a draft (a draft is the one version that is not yet immutable)."""
    actor = service.actor_for(principal)
    if not actor.is_staff:
        raise Forbidden("Only the provider's staff may edit a draft")
    if agreement.state != "draft":
        raise Conflict(
            f"Only a draft can be edited; the agreement is {agreement.state}", extra={"state": agreement.state}
        )
    version = await service.head_version(session, agreement)
    await terms.apply_changes(session, agreement, version, changes)
    terms.mirror(agreement, version)
    _touch(agreement, "draft")
    service.record(session, agreement, "edit", "draft", actor, None)
    await session.flush()
    return agreement


async def _side(session: AsyncSession, actor: Actor, agreement: Agreement) -> str:
    try:
        return lifecycle.side_of(actor, await service.agreement_parties(session, agreement))
    except lifecycle.NotPermitted as exc:
        raise Forbidden(str(exc)) from exc


async def propose(
    session: AsyncSession,
    *,
    principal: Principal,
    agreement: Agreement,
    changes: TermsChange | None,
    comment: str | None,
) -> Agreement:
    """Put terms on the table: a draft becomes a proposal, or a counter-proposal is answered with one."""
    actor = service.actor_for(principal)
    before = agreement.state
    after = _check("propose", actor, agreement)
    side = await _side(session, actor, agreement)
    current = await service.head_version(session, agreement)
    if before == "draft":
        await terms.apply_changes(session, agreement, current, changes)
        terms.mirror(agreement, current)
        version = current
    elif changes is not None and changes.model_fields_set:
        current.status = "replaced"
        version = await terms.open_version(
            session, agreement, actor=actor, status="proposed", proposed_by=side, changes=changes
        )
    else:
        version = current
    version.status, version.proposed_by = "proposed", side
    _touch(agreement, after)
    service.record(session, agreement, "propose", before, actor, comment, [side])
    events.state_changed(
        session,
        events.STATE_EVENTS["propose"],
        agreement,
        version,
        previous_state=before,
        actor=actor.subject,
        side=side,
        comment=comment,
    )
    await session.flush()
    return agreement


async def counter(
    session: AsyncSession, *, principal: Principal, agreement: Agreement, changes: TermsChange, comment: str | None
) -> Agreement:
    """Answer the terms on the table with other terms: a new immutable version, by either side."""
    actor = service.actor_for(principal)
    before = agreement.state
    after = _check("counter", actor, agreement)
    side = await _side(session, actor, agreement)
    current = await service.head_version(session, agreement)
    version = await terms.open_version(
        session, agreement, actor=actor, status="countered", proposed_by=side, changes=changes
    )
    if not await terms.changes_between(session, agreement, current, version):
        raise service.invalid({"changes": "the counter-proposal changes nothing"})
    current.status = "replaced"
    _touch(agreement, after)
    service.record(session, agreement, "counter", before, actor, comment, [side])
    events.state_changed(
        session,
        events.STATE_EVENTS["counter"],
        agreement,
        version,
        previous_state=before,
        actor=actor.subject,
        side=side,
        comment=comment,
    )
    await session.flush()
    return agreement


async def accept(
    session: AsyncSession, *, principal: Principal, agreement: Agreement, comment: str | None
) -> Agreement:
    """Accept the terms on the table for the caller's side; both sides accepted makes the agreement agreed."""
    actor = service.actor_for(principal)
    before = agreement.state
    already = frozenset(a.side for a in await repository.acceptances_of(session, agreement))
    try:
        outcome = lifecycle.accept(before, already, actor, await service.agreement_parties(session, agreement))  # type: ignore[arg-type]
    except lifecycle.NotPermitted as exc:
        raise Forbidden(str(exc)) from exc
    except lifecycle.AlreadyAccepted as exc:
        raise Conflict(str(exc), extra={"state": before}) from exc
    except lifecycle.IllegalTransition as exc:
        raise Conflict(f"{exc}; the agreement is {before}", extra={"state": before}) from exc
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
    _touch(agreement, outcome.state)
    service.record(session, agreement, "accept", before, actor, comment, outcome.added)
    if outcome.state == "agreed":
        version = await service.head_version(session, agreement)
        version.status = "agreed"
        events.state_changed(
            session,
            events.STATE_EVENTS["agreed"],
            agreement,
            version,
            previous_state=before,
            actor=actor.subject,
            comment=comment,
        )
    await session.flush()
    return agreement


async def amend(
    session: AsyncSession,
    *,
    principal: Principal,
    agreement: Agreement,
    changes: TermsChange | None,
    comment: str | None,
) -> Agreement:
    """Open a new draft version of an agreement in force; the version in force stays until the new one is activated."""
    actor = service.actor_for(principal)
    before = agreement.state
    after = _check("amend", actor, agreement)
    version = await terms.open_version(
        session, agreement, actor=actor, status="draft", proposed_by=None, changes=changes
    )
    _touch(agreement, after)
    service.record(session, agreement, "amend", before, actor, comment)
    events.state_changed(
        session,
        events.STATE_EVENTS["amend"],
        agreement,
        version,
        previous_state=before,
        actor=actor.subject,
        comment=comment,
    )
    await session.flush()
    return agreement


async def withdraw(
    session: AsyncSession, *, principal: Principal, agreement: Agreement, comment: str | None
) -> Agreement:
    """Withdraw an amendment not yet in force (staff): its version is withdrawn for good, and the agreement is
    back on the version in force, with its terms and offering, as before the amendment was opened."""
    actor = service.actor_for(principal)
    before = agreement.state
    if actor.is_staff and agreement.in_force_version is None:
        raise Conflict(
            f"Only an amendment of an agreement in force can be withdrawn; the agreement is {before} and was never "
            "in force (terminate it instead)",
            extra={"state": before},
        )
    if actor.is_staff and before == "active":
        raise Conflict("No amendment is open to withdraw; the agreement is active", extra={"state": before})
    after = _check("withdraw", actor, agreement)
    withdrawn = await service.head_version(session, agreement)
    assert agreement.in_force_version is not None
    kept = await repository.get_version(session, agreement, agreement.in_force_version)
    assert kept is not None
    withdrawn.status = "withdrawn"
    _touch(agreement, after)
    service.record(session, agreement, "withdraw", before, actor, comment)
    events.state_changed(
        session,
        events.STATE_EVENTS["withdraw"],
        agreement,
        withdrawn,
        previous_state=before,
        actor=actor.subject,
        comment=comment,
    )
    agreement.version = kept.version  # the newest version again is the one in force; the next amendment follows
    terms.mirror(agreement, kept)  # the withdrawn one's number (repository.newest_version_number)
    await session.flush()
    return agreement


async def end(
    session: AsyncSession, *, agreement: Agreement, action: Action, actor: Actor, comment: str | None
) -> Agreement:
    """Terminate or expire: the newest version and the one in force end; measurement hears of the latter."""
    before = agreement.state
    after = _check(action, actor, agreement)
    now = utcnow()
    head = await service.head_version(session, agreement)
    ended: AgreementVersion | None = None
    if agreement.in_force_version is not None:
        ended = await repository.get_version(session, agreement, agreement.in_force_version)
    for version in {id(v): v for v in (head, ended) if v is not None}.values():
        version.status = after
    if ended is not None:
        for earlier in await in_force.versions_of(session, agreement):
            if (earlier.activated_at or earlier.in_force_from) is not None and earlier.ended_at is None:
                earlier.ended_at = now
        await in_force.refresh_spans(session, agreement)
        events.agreement_ended(session, agreement, ended.version, "expired" if action == "expire" else "terminated")
    agreement.ended_at = now
    agreement.in_force_version = None
    _touch(agreement, after)
    service.record(session, agreement, action, before, actor, comment)
    events.state_changed(
        session,
        events.STATE_EVENTS[action],
        agreement,
        ended or head,
        previous_state=before,
        actor=actor.subject,
        comment=comment,
    )
    await session.flush()
    return agreement
