"""Improvement actions: created from a review, a breach or by hand; overdue ones announced; changes requested."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from slm_agreements import repository
from slm_agreements.actions.models import ImprovementAction
from slm_agreements.actions.schemas import ActionCreate, ActionUpdate, ChangeRequestCreate, ChangeRequestPublic
from slm_agreements.models import Agreement, AgreementObjective, Party, new_id
from slm_agreements.reviews.models import Review
from slm_shared.bus import carried_tenant, record_event, tenant_carried
from slm_shared.contracts import EVENTS
from slm_shared.contracts.envelope import EventSpec
from slm_shared.contracts.payloads import ChangeRequestedV1, ChangeStatusChangedV1, ImprovementActionV1
from slm_shared.db import Database, utcnow
from slm_shared.errors import Conflict, FieldError, NotFound, Unprocessable

OPEN = ("open", "in_progress")
UNASSIGNED = "unassigned"  # the owner of a breach's action when neither party lists a contact
OVERDUE_BATCH = 500  # actions one overdue pass claims


def _texts(params: dict[str, object] | None) -> dict[str, str] | None:
    return {k: str(v) for k, v in params.items()} if params else None


def _action_event(
    session: AsyncSession, spec: EventSpec[ImprovementActionV1], action: ImprovementAction, service_key: str
) -> None:
    data = ImprovementActionV1(
        action_id=action.id,
        agreement_id=action.agreement_id,
        service_key=service_key,
        title=action.title,
        owner=action.owner,
        due_on=action.due_on,
        status=action.status,
        source=action.source,
        objective_id=action.objective_id,
        review_id=action.review_id,
        breach_ref=action.breach_ref,
        owner_email=action.owner_email,
        owner_party_id=action.owner_party_id,
        title_key=action.title_key,
        title_params=_texts(action.title_params),
        change_request_id=action.change_request_id,
        change_status=action.change_status,
        change_ref=action.change_ref,
        revision=action.revision,
        description=action.description,
        description_key=action.description_key,
        description_params=_texts(action.description_params),
    )
    record_event(session, spec, tenant=action.tenant, subject=action.id, data=data)


async def parties_of_agreement(session: AsyncSession, agreement: Agreement) -> list[Party]:
    """The agreement's provider and consumer, in that order (those that exist in its tenant), in one read."""
    wanted = [party_id for party_id in (agreement.provider_party_id, agreement.consumer_party_id) if party_id]
    if not wanted:
        return []
    found = {
        party.id: party
        for party in await session.scalars(
            select(Party).where(col(Party.tenant) == agreement.tenant, col(Party.id).in_(wanted))
        )
    }
    return [found[party_id] for party_id in wanted if party_id in found]


def contact_named(parties: list[Party], owner: str) -> tuple[str, str, str] | None:
    """The first of `parties`' contacts named (or e-mailed) `owner`: name, e-mail, party."""
    wanted = owner.strip().casefold()
    for party in parties:
        for contact in party.contacts:
            if wanted in (str(contact.get("name", "")).casefold(), str(contact.get("email", "")).casefold()):
                return str(contact["name"]), str(contact["email"]), party.id
    return None


async def owner_contact(session: AsyncSession, agreement: Agreement, owner: str) -> tuple[str, str, str] | None:
    """The contact of the agreement's provider or consumer named (or e-mailed) `owner`: name, e-mail, party."""
    return contact_named(await parties_of_agreement(session, agreement), owner)


def default_owner(parties: list[Party]) -> str | None:
    """Who owns an action nobody assigned: the provider's (else the consumer's) first-level service level
    manager, else its first first-level contact (`parties` as `parties_of_agreement` reads them)."""
    for party in parties:
        first = [c for c in party.contacts if int(c.get("escalation_level", 1)) == 1]
        ranked = sorted(first, key=lambda c: c.get("role") != "service_level_manager")
        if ranked:
            return str(ranked[0]["name"])
    return None


def _owner_error(owner: str) -> Unprocessable:
    message = f"{owner!r} is not a contact of the agreement's provider or consumer"
    return Unprocessable(f"owner: {message}", errors=[FieldError(field="owner", message=message)])


async def create_action(
    session: AsyncSession,
    *,
    agreement: Agreement,
    data: ActionCreate,
    created_by: str,
    title_key: str | None = None,
    title_params: dict[str, str] | None = None,
    description_key: str | None = None,
    description_params: dict[str, str] | None = None,
    parties: list[Party] | None = None,
    objective_checked: bool = False,
) -> ImprovementAction:
    """Record an improvement action, checking what it links to and that its owner is a contact, and announce it.

    A caller that has read them already passes the agreement's `parties` (`parties_of_agreement`), and says the
    action's objective is the agreement's (`objective_checked`): neither is read again."""
    errors: dict[str, str] = {}
    if parties is None:
        parties = await parties_of_agreement(session, agreement)
    owner = contact_named(parties, data.owner)
    if owner is None and created_by == "system" and data.owner == UNASSIGNED:
        owner = (UNASSIGNED, None, None)  # type: ignore[assignment]
    if owner is None:
        errors["owner"] = f"{data.owner!r} is not a contact of the agreement's provider or consumer"
    if data.objective_id is not None and not objective_checked:
        found = await session.scalar(
            select(col(AgreementObjective.id))
            .where(
                col(AgreementObjective.tenant) == agreement.tenant,
                col(AgreementObjective.agreement_id) == agreement.id,
                col(AgreementObjective.id) == data.objective_id,
            )
            .limit(1)
        )
        if found is None:
            errors["objective_id"] = f"no objective {data.objective_id} in this agreement"
    if data.review_id is not None:
        review = await session.scalar(
            select(Review).where(
                col(Review.tenant) == agreement.tenant,
                col(Review.agreement_id) == agreement.id,
                col(Review.id) == data.review_id,
            )
        )
        if review is None:
            errors["review_id"] = f"no review {data.review_id} of this agreement"
    if data.source == "review" and data.review_id is None:
        errors["review_id"] = "an action from a review names the review"
    if data.source == "breach" and data.breach_ref is None and data.objective_id is None:
        errors["breach_ref"] = "an action from a breach names the breach or the breached objective"
    if errors:
        raise Unprocessable(
            "; ".join(f"{k}: {v}" for k, v in errors.items()),
            errors=[FieldError(field=k, message=v) for k, v in errors.items()],
        )
    assert owner is not None
    action = ImprovementAction(
        id=new_id(), tenant=agreement.tenant, agreement_id=agreement.id, created_by=created_by, **data.model_dump()
    )
    action.owner, action.owner_email, action.owner_party_id = owner
    action.title_key, action.title_params = title_key, title_params
    action.description_key, action.description_params = description_key, description_params
    session.add(action)
    await session.flush()
    _action_event(session, EVENTS.action_created, action, agreement.service_key)
    return action


async def list_actions(
    session: AsyncSession, *, agreement: Agreement, status: str | None, limit: int, offset: int
) -> tuple[list[ImprovementAction], int]:
    query = select(ImprovementAction).where(
        col(ImprovementAction.tenant) == agreement.tenant, col(ImprovementAction.agreement_id) == agreement.id
    )
    if status is not None:
        query = query.where(col(ImprovementAction.status) == status)
    return await repository.page(session, query, (ImprovementAction.due_on, ImprovementAction.id), limit, offset)


async def get_action(
    session: AsyncSession, *, tenant: str, action_id: str, for_update: bool = False
) -> ImprovementAction:
    query = select(ImprovementAction).where(
        col(ImprovementAction.tenant) == tenant, col(ImprovementAction.id) == action_id
    )
    action = await session.scalar(query.with_for_update() if for_update else query)
    if action is None:
        raise NotFound(f"No action {action_id}")
    return action


async def update_action(
    session: AsyncSession, *, agreement: Agreement, action: ImprovementAction, data: ActionUpdate
) -> ImprovementAction:
    """Change an action; a finished or cancelled action is closed for good; reports hear of it."""
    if action.status not in OPEN:
        raise Conflict(f"Action {action.id} is {action.status}", extra={"status": action.status})
    for name, value in data.model_dump(exclude_unset=True).items():
        if value is None:
            raise Unprocessable(f"{name} cannot be null", errors=[FieldError(field=name, message="cannot be null")])
        if name == "owner":
            owner = await owner_contact(session, agreement, value)
            if owner is None:
                raise _owner_error(value)
            action.owner, action.owner_email, action.owner_party_id = owner
            continue
        setattr(action, name, value)
        if name == "title":
            action.title_key, action.title_params = None, None  # a person's title, kept as written
        if name == "description":
            action.description_key, action.description_params = None, None
    if "due_on" in data.model_fields_set:
        action.overdue_notified_at = None  # a new due date earns a new reminder when missed
    action.revision += 1
    action.updated_at = utcnow()
    await session.flush()
    _action_event(session, EVENTS.action_updated, action, agreement.service_key)
    return action


async def request_change(
    session: AsyncSession,
    *,
    agreement: Agreement,
    action: ImprovementAction,
    data: ChangeRequestCreate,
    requested_by: str,
) -> ChangeRequestPublic:
    """Raise a request for change from an open action, as an event an ITSM integration turns into a change ticket."""
    if action.status not in OPEN:
        raise Conflict(f"Action {action.id} is {action.status}; a change is requested from an open action")
    if action.change_requested_at is not None:
        raise Conflict(
            f"A change was already requested for action {action.id} at {action.change_requested_at.isoformat()}"
        )
    change_id, now = new_id(), utcnow()
    summary = data.summary or action.title
    record_event(
        session,
        EVENTS.change_requested,
        tenant=action.tenant,
        subject=action.id,
        data=ChangeRequestedV1(
            change_request_id=change_id,
            action_id=action.id,
            agreement_id=agreement.id,
            service_id=agreement.service_id,
            service_key=agreement.service_key,
            summary=summary,
            description=data.description or action.description,
            priority=data.priority,
            requested_by=requested_by,
        ),
    )
    action.change_requested_at, action.updated_at = now, now
    action.change_request_id, action.change_status = change_id, "requested"
    action.revision += 1
    return ChangeRequestPublic(
        change_request_id=change_id,
        action_id=action.id,
        agreement_id=agreement.id,
        summary=summary,
        priority=data.priority,
        requested_at=now,
    )


async def record_change_status(
    session: AsyncSession, *, action: ImprovementAction, data: ChangeStatusChangedV1
) -> ImprovementAction:
    """Keep what the ITSM tool said of the action's change, and announce the action with it (action.updated)."""
    action.change_status, action.change_status_at = data.status, data.observed_at
    action.change_system = data.system[:32]
    action.change_ref = (data.external_ref or data.external_id)[:200]
    action.revision += 1
    action.updated_at = utcnow()
    await session.flush()
    service_key = await session.scalar(
        select(col(Agreement.service_key)).where(col(Agreement.id) == action.agreement_id)
    )
    _action_event(session, EVENTS.action_updated, action, service_key or "")
    return action


async def list_change_requests(session: AsyncSession, *, agreement: Agreement) -> list[ImprovementAction]:
    """The agreement's actions a change was requested from, oldest request first."""
    rows = await session.scalars(
        select(ImprovementAction)
        .where(
            col(ImprovementAction.tenant) == agreement.tenant,
            col(ImprovementAction.agreement_id) == agreement.id,
            col(ImprovementAction.change_request_id).is_not(None),
        )
        .order_by(col(ImprovementAction.change_requested_at), col(ImprovementAction.id))
    )
    return list(rows)


async def announce_overdue_actions(db: Database, *, today: date) -> int:
    """Emit action.overdue once for every open action past its due date."""
    async with db.session() as session:
        rows = (
            await session.execute(
                select(ImprovementAction, col(Agreement.service_key))
                .join(Agreement, col(Agreement.id) == col(ImprovementAction.agreement_id))
                .where(
                    col(ImprovementAction.status).in_(OPEN),
                    col(ImprovementAction.due_on) < today,
                    col(ImprovementAction.overdue_notified_at).is_(None),
                    carried_tenant(col(ImprovementAction.tenant)),  # a skipped action would qualify again every pass
                )
                .limit(OVERDUE_BATCH)
                .with_for_update(of=ImprovementAction, skip_locked=True)  # another replica's claim is skipped
            )
        ).all()
        now = utcnow()
        announced = 0
        for action, service_key in rows:
            if tenant_carried(action.tenant, job="overdue actions", item=f"action {action.id}"):
                action.overdue_notified_at = now
                _action_event(session, EVENTS.action_overdue, action, service_key)
                announced += 1
        return announced
