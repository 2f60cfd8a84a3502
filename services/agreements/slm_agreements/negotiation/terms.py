"""Writing terms into a version: changes applied to a draft, and new versions copied from the newest one."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from slm_agreements import repository, service
from slm_agreements.catalog import repository as catalog_repository
from slm_agreements.lifecycle import Actor
from slm_agreements.models import Agreement, AgreementObjective, AgreementVersion
from slm_agreements.negotiation.diff import diff_versions
from slm_agreements.objectives import ObjectiveDraft, is_standard, objective_problems
from slm_agreements.schemas import TermsChange
from slm_agreements.terms import date_problems
from slm_shared.contracts.targets import Target
from slm_shared.terms import credits
from slm_shared.terms.credits import CreditBand

COPIED = (
    "effective_from",
    "effective_to",
    "review_cycle",
    "renewal_notice_days",
    "timezone",
    "support_calendar",
    "price",
    "ticket_targets",
    "service_credits",
    "maintenance_windows",
    "credit_terms",
    "observation_terms",
    "measured_scope",
    "offering_id",
    "offering_version",
    "standard_targets",
)
OBJECTIVE_FIELDS = (
    "id",
    "name",
    "customer_specific",
    "indicator",
    "indicator_kind",
    "target",
    "op",
    "value",
    "window",
    "budgeting_method",
    "timeslice_seconds",
    "timeslice_target",
    "alert_policy",
    "maintenance_windows",
)


def _json(value: Any) -> Any:
    if isinstance(value, list):
        return [_json(item) for item in value]
    return value.model_dump(mode="json") if hasattr(value, "model_dump") else value


async def apply_changes(
    session: AsyncSession, agreement: Agreement, version: AgreementVersion, changes: TermsChange | None
) -> None:
    """Write `changes` into a version that is still being written; refuse anything not measurable or consistent."""
    if changes is None:
        return
    for name in changes.model_fields_set - {"objectives", "offering_id"}:
        value = getattr(changes, name)
        if value is None and name in ("effective_from", "timezone", "review_cycle"):
            continue
        setattr(version, name, _json(value) if value is not None else ([] if name.endswith("s") else None))
    if agreement.kind == "expectation" and version.service_credits:
        raise service.invalid({"changes.service_credits": "a service expectation carries no service credits"})
    if problems := date_problems(version.effective_from, version.effective_to, version.renewal_notice_days):
        raise service.invalid({f"changes.{field}": message for field, message in problems.items()})
    if changes.offering_id is not None:
        await _onto_offering(session, agreement, version, changes.offering_id, keep=changes.objectives is None)
    if changes.objectives is None:
        await _check_credited(session, agreement, version)
        return
    previous = {o.id for o in await repository.objectives_of(session, agreement, version.version)}
    if version.based_on:
        previous |= {o.id for o in await repository.objectives_of(session, agreement, version.based_on)}
    standard = [Target.model_validate(t) for t in version.standard_targets]
    drafts: list[tuple[str | None, ObjectiveDraft]] = []
    errors: dict[str, str] = {}
    for index, objective in enumerate(changes.objectives):
        if objective.id is not None and objective.id not in previous:
            errors[f"changes.objectives.{index}.id"] = f"no objective {objective.id} in this agreement"
        target = Target.model_validate(objective.model_dump(exclude={"name", "id"}))
        drafts.append((objective.id, ObjectiveDraft(target, objective.name, not is_standard(target, standard))))
    errors |= objective_problems([draft for _, draft in drafts], prefix="changes.objectives")
    if len({objective_id for objective_id, _ in drafts if objective_id}) != len([1 for i, _ in drafts if i]):
        errors["changes.objectives"] = "an objective id appears twice"
    if errors:
        raise service.invalid(errors)
    await session.execute(
        delete(AgreementObjective).where(
            col(AgreementObjective.tenant) == agreement.tenant,
            col(AgreementObjective.agreement_id) == agreement.id,
            col(AgreementObjective.agreement_version) == version.version,
        )
    )
    session.add_all(service.objective_rows(agreement, version.version, drafts))
    await session.flush()
    await _check_credited(session, agreement, version)


async def _onto_offering(
    session: AsyncSession, agreement: Agreement, version: AgreementVersion, offering_id: str, *, keep: bool
) -> None:
    """Base the version on another published offering of the service: its targets become the standard objectives.

    Only the version records the offering; the agreement moves onto it when the version is put in force.

    With `keep`, the version's objectives are rewritten now: each standard one becomes the new offering's target
    on its indicator (keeping the objective's id), customer-specific ones stay, and the offering's new
    indicators are added. Otherwise the objectives given in the same change are written as they come.
    """
    offering = await catalog_repository.get_catalog_offering(session, tenant=agreement.tenant, offering_id=offering_id)
    if offering is None:
        raise service.invalid({"changes.offering_id": f"offering {offering_id} is not in the catalogue"})
    if offering.service_id != agreement.service_id:
        raise service.invalid({"changes.offering_id": f"offering {offering_id} is of another service"})
    if offering.status != "published" and offering.id not in (agreement.offering_id, version.offering_id):
        raise service.invalid({"changes.offering_id": f"offering {offering_id} is {offering.status}"})
    standard = [Target.model_validate(t) for t in offering.targets]
    version.offering_id, version.offering_version = offering.id, offering.version
    version.standard_targets = [t.model_dump(mode="json") for t in standard]
    if not keep:
        return
    current = await repository.objectives_of(session, agreement, version.version)
    specific = [o for o in current if o.customer_specific]
    ids = {o.indicator: o.id for o in current if not o.customer_specific}
    overridden = {o.indicator for o in specific}
    drafts: list[tuple[str | None, ObjectiveDraft]] = [
        (ids.pop(t.indicator, None), ObjectiveDraft(t)) for t in standard if t.indicator not in overridden
    ]
    drafts += [
        (o.id, ObjectiveDraft(Target.model_validate(o.model_dump()), o.name, customer_specific=True)) for o in specific
    ]
    if problems := objective_problems([draft for _, draft in drafts], prefix="changes.offering_id targets"):
        raise service.invalid(problems)
    await session.execute(
        delete(AgreementObjective).where(
            AgreementObjective.tenant == agreement.tenant,  # type: ignore[arg-type]
            AgreementObjective.agreement_id == agreement.id,  # type: ignore[arg-type]
            AgreementObjective.agreement_version == version.version,  # type: ignore[arg-type]
        )
    )
    for row in current:
        session.expunge(row)
    session.add_all(service.objective_rows(agreement, version.version, drafts))
    await session.flush()


async def _check_credited(session: AsyncSession, agreement: Agreement, version: AgreementVersion) -> None:
    """Refuse a credit band covering an indicator that no objective of the version measures."""
    indicators = {o.indicator for o in await repository.objectives_of(session, agreement, version.version)}
    bands = [CreditBand.model_validate(band) for band in version.service_credits]
    if problems := credits.indicator_problems(bands, indicators):
        raise service.invalid({f"changes.service_credits.{index}.indicator": m for index, m in problems.items()})


async def open_version(
    session: AsyncSession,
    agreement: Agreement,
    *,
    actor: Actor,
    status: str,
    proposed_by: str | None,
    changes: TermsChange | None,
) -> AgreementVersion:
    """A new version copied from the newest one (objectives keep their ids), with `changes` applied."""
    base = await service.head_version(session, agreement)
    number = await repository.newest_version_number(session, agreement) + 1  # past any withdrawn amendment
    version = AgreementVersion(
        agreement_id=agreement.id,
        version=number,
        tenant=agreement.tenant,
        status=status,
        proposed_by=proposed_by,
        based_on=base.version,
        created_by=actor.subject,
        **{name: getattr(base, name) for name in COPIED},
    )
    session.add(version)
    copied = await repository.objectives_of(session, agreement, base.version)
    session.add_all(AgreementObjective(**{**o.model_dump(), "agreement_version": number}) for o in copied)
    await session.flush()
    agreement.version = number
    await apply_changes(session, agreement, version, changes)
    mirror(agreement, version)
    return version


def mirror(agreement: Agreement, version: AgreementVersion) -> None:
    """Keep the agreement's list columns in step with its newest version."""
    agreement.effective_from = version.effective_from
    agreement.effective_to = version.effective_to
    agreement.review_cycle = version.review_cycle


async def snapshot(session: AsyncSession, agreement: Agreement, version: AgreementVersion) -> dict[str, Any]:
    """A version's terms as plain data, for comparison."""
    objectives = await repository.objectives_of(session, agreement, version.version)
    terms = {name: _json(getattr(version, name)) for name in COPIED}
    for name in ("effective_from", "effective_to"):
        terms[name] = terms[name].isoformat() if terms[name] is not None else None
    terms["objectives"] = [{name: getattr(o, name) for name in OBJECTIVE_FIELDS} for o in objectives]
    return terms


async def changes_between(
    session: AsyncSession, agreement: Agreement, before: AgreementVersion, after: AgreementVersion
) -> list[dict[str, Any]]:
    """Every difference between two versions of the agreement."""
    return diff_versions(await snapshot(session, agreement, before), await snapshot(session, agreement, after))
