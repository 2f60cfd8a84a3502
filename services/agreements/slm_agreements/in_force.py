"""Which version of an agreement is in force when: the shared definition applied to the stored versions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from slm_agreements.models import Agreement, AgreementVersion
from slm_shared.terms import in_force


def activated(versions: Sequence[AgreementVersion]) -> list[in_force.ActivatedVersion]:
    """The versions ever put in force, as the shared definition reads them."""
    found = []
    for version in versions:
        activated_at = version.activated_at or version.in_force_from
        if activated_at is None:
            continue
        found.append(
            in_force.ActivatedVersion(
                version=version.version,
                effective_from=version.effective_from,
                activated_at=activated_at,
                effective_to=version.effective_to,
                ended_at=version.ended_at,
            )
        )
    return found


async def versions_of(session: AsyncSession, agreement: Agreement) -> list[AgreementVersion]:
    rows = await session.scalars(
        select(AgreementVersion)
        .where(col(AgreementVersion.tenant) == agreement.tenant, col(AgreementVersion.agreement_id) == agreement.id)
        .order_by(col(AgreementVersion.version))
    )
    return list(rows.all())


async def refresh_spans(session: AsyncSession, agreement: Agreement) -> None:
    """Write each activated version's in-force span (`in_force_from`, `in_force_to`) from the shared definition."""
    versions = await versions_of(session, agreement)
    spans = {span.version: span for span in in_force.spans(activated(versions))}
    for version in versions:
        if (version.activated_at or version.in_force_from) is None:
            continue
        span = spans.get(version.version)
        version.in_force_from = span.start if span else None
        version.in_force_to = span.end if span else None
    await session.flush()


async def current_versions(
    session: AsyncSession, agreements: Sequence[Agreement], at: datetime
) -> dict[str, int | None]:
    """The version of each agreement in force at `at`, from one query."""
    if not agreements:
        return {}
    rows = await session.scalars(
        select(AgreementVersion).where(
            col(AgreementVersion.tenant) == agreements[0].tenant,
            col(AgreementVersion.agreement_id).in_([a.id for a in agreements]),
        )
    )
    by_agreement: dict[str, list[AgreementVersion]] = {a.id: [] for a in agreements}
    for row in rows.all():
        by_agreement[row.agreement_id].append(row)
    return {key: in_force.version_at(activated(found), at) for key, found in by_agreement.items()}


async def version_at(session: AsyncSession, agreement: Agreement, at: datetime) -> AgreementVersion | None:
    """The version in force at `at`, or None when none was."""
    versions = await versions_of(session, agreement)
    number = in_force.version_at(activated(versions), at)
    return next((v for v in versions if v.version == number), None)
