"""The agreements' terms beyond objectives (ticket targets, calendar, credits, price), offering prices
and improvement actions: local read models kept from agreements and catalogue events."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Column, Text, UniqueConstraint, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel, col

from slm_measurement.models import new_id
from slm_shared.contracts.payloads import (
    AgreementActivatedV1,
    AgreementEndedV1,
    ImprovementActionV1,
    OfferingPublishedV1,
    PriceV1,
)
from slm_shared.db import UTCDateTime, utcnow
from slm_shared.terms import in_force


class AgreementTerms(SQLModel, table=True):
    """One version of an agreement as activated: what tickets, reports and credits need."""

    __tablename__ = "agreement_terms"
    __table_args__ = (UniqueConstraint("tenant", "agreement_id", "version", name="uq_agreement_terms_version"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    tenant: str = Field(max_length=64, index=True)
    agreement_id: str = Field(max_length=64, index=True)
    version: int
    name: str = Field(max_length=200)
    kind: str = Field(max_length=16)
    service_key: str = Field(max_length=64, index=True)
    offering_id: str | None = Field(default=None, max_length=64)
    consumer_party_id: str | None = Field(default=None, max_length=64, index=True)
    effective_from: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    effective_to: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    ended_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    activated_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    credit_terms: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    timezone: str = Field(default="UTC", max_length=64)
    ticket_targets: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    calendar: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    credit_schedule: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    price: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    payload: dict[str, Any] | None = Field(
        default=None, sa_column=Column(JSON, nullable=True), description="the activation as received: its objectives"
    )
    observation_terms: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    measured_scope: str = Field(default="service", max_length=16)
    risks: list[dict[str, Any]] = Field(
        default_factory=list,
        sa_column=Column(JSON, nullable=False, server_default="[]"),
        description="chain gaps the version was activated with, accepted as risks",
    )

    def goal(self, priority: str | None, clock: str) -> int | None:
        """The goal in business seconds for a priority's response or resolution clock."""
        for target in self.ticket_targets:
            if target.get("priority") == priority:
                return target.get(f"{clock}_seconds")
        return None

    def activated(self) -> in_force.ActivatedVersion:
        """This version as the shared definition of "in force" reads it."""
        return in_force.ActivatedVersion(
            version=self.version,
            effective_from=self.effective_from,
            activated_at=self.activated_at or self.effective_from,
            effective_to=self.effective_to,
            ended_at=self.ended_at,
        )


class OfferingPrice(SQLModel, table=True):
    """The price of a published offering: the fallback for credits when an agreement carries none."""

    __tablename__ = "offering_prices"

    tenant: str = Field(max_length=64, primary_key=True)
    offering_id: str = Field(max_length=64, primary_key=True)
    version: int
    price: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))


class ImprovementAction(SQLModel, table=True):
    """An improvement action raised against an agreement, as last reported."""

    __tablename__ = "improvement_actions"

    tenant: str = Field(max_length=64, primary_key=True)
    action_id: str = Field(max_length=64, primary_key=True)
    agreement_id: str = Field(max_length=64, index=True)
    title: str = Field(max_length=500)
    owner: str = Field(max_length=200)
    due_on: str = Field(max_length=10)
    status: str = Field(max_length=16)
    source: str = Field(max_length=16)
    overdue: bool = False
    title_key: str | None = Field(default=None, max_length=64)
    title_params: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    description: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    description_key: str | None = Field(default=None, max_length=64)
    description_params: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    change_status: str | None = Field(default=None, max_length=32)
    change_ref: str | None = Field(default=None, max_length=200)
    revision: int | None = None
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))


async def store_activation(
    session: AsyncSession, *, tenant: str, agreement: AgreementActivatedV1, at: datetime
) -> None:
    """Keep the version's terms (once per version); `at` is when it was activated, if the payload does not say."""
    found = await session.scalar(
        select(AgreementTerms).where(
            col(AgreementTerms.tenant) == tenant,
            col(AgreementTerms.agreement_id) == agreement.agreement_id,
            col(AgreementTerms.version) == agreement.version,
        )
    )
    row = found or AgreementTerms(
        tenant=tenant,
        agreement_id=agreement.agreement_id,
        version=agreement.version,
        name=agreement.name,
        kind=agreement.kind,
        service_key=agreement.service_key,
        effective_from=agreement.effective_from,
    )
    row.name, row.kind, row.service_key = agreement.name, agreement.kind, agreement.service_key
    row.offering_id, row.consumer_party_id = agreement.offering_id, agreement.consumer_party_id
    row.effective_from, row.effective_to, row.timezone = (
        agreement.effective_from,
        agreement.effective_to,
        agreement.timezone,
    )
    row.ticket_targets = [t.model_dump(mode="json") for t in agreement.ticket_targets]
    row.calendar = agreement.calendar
    row.credit_schedule = [dict(band) for band in agreement.credit_schedule]
    row.price = agreement.price.model_dump(mode="json") if agreement.price else None
    row.activated_at = agreement.activated_at or at
    row.payload = agreement.model_dump(mode="json")
    row.credit_terms = agreement.credit_terms.model_dump(mode="json") if agreement.credit_terms else None
    row.observation_terms = agreement.observation_terms.model_dump(mode="json") if agreement.observation_terms else None
    row.measured_scope = agreement.measured_scope
    extra = (agreement.model_extra or {}).get("risks")
    row.risks = [dict(r) for r in extra if isinstance(r, dict)] if isinstance(extra, list) else []
    session.add(row)
    await session.flush()


async def store_end(session: AsyncSession, *, tenant: str, ended: AgreementEndedV1, at: datetime) -> None:
    """Mark this version and older ones ended at `at` (a superseded one ends as its successor starts)."""
    if ended.reason == "superseded":
        return
    for row in await versions(session, tenant=tenant, agreement_id=ended.agreement_id):
        if row.version <= ended.version and row.ended_at is None:
            row.ended_at = at
    await session.flush()


async def store_offering_price(session: AsyncSession, *, tenant: str, offering: OfferingPublishedV1) -> None:
    row = await session.get(OfferingPrice, (tenant, offering.offering_id))
    if row is not None and row.version > offering.version:
        return
    row = row or OfferingPrice(tenant=tenant, offering_id=offering.offering_id, version=offering.version)
    row.version, row.price = offering.version, offering.price.model_dump(mode="json") if offering.price else None
    session.add(row)
    await session.flush()


async def store_action(session: AsyncSession, *, tenant: str, action: ImprovementActionV1, overdue: bool) -> None:
    """Keep an action's latest state; a new due date clears an earlier overdue mark.

    An event of an older revision than the one kept (redelivered, or overtaken) changes nothing.
    """
    row = await session.get(ImprovementAction, (tenant, action.action_id))
    if row is not None and row.revision is not None and action.revision is not None and action.revision < row.revision:
        return
    row = row or ImprovementAction(
        tenant=tenant,
        action_id=action.action_id,
        agreement_id=action.agreement_id,
        title=action.title[:500],
        owner=action.owner[:200],
        due_on=action.due_on.isoformat(),
        status=action.status,
        source=action.source,
    )
    still_overdue = bool(row.overdue) and row.due_on == action.due_on.isoformat()
    row.title, row.owner, row.due_on = action.title[:500], action.owner[:200], action.due_on.isoformat()
    row.status, row.source, row.overdue = action.status, action.source, still_overdue or overdue
    row.title_key, row.title_params = action.title_key, action.title_params
    if action.description is not None:  # events sent before descriptions travelled keep what was known
        row.description, row.description_key = action.description, action.description_key
        row.description_params = action.description_params
    row.change_status, row.change_ref = action.change_status, action.change_ref
    row.revision = action.revision if action.revision is not None else row.revision
    row.updated_at = utcnow()
    session.add(row)
    await session.flush()


async def versions(session: AsyncSession, *, tenant: str, agreement_id: str) -> Sequence[AgreementTerms]:
    """Every stored version of an agreement, oldest first."""
    rows = await session.scalars(
        select(AgreementTerms)
        .where(col(AgreementTerms.tenant) == tenant, col(AgreementTerms.agreement_id) == agreement_id)
        .order_by(col(AgreementTerms.version))
    )
    return rows.all()


async def terms_at(
    session: AsyncSession, *, tenant: str, agreement_id: str, instant: datetime
) -> AgreementTerms | None:
    """The version in force at `instant`, else the latest that started before it, else the first."""
    rows = await versions(session, tenant=tenant, agreement_id=agreement_id)
    number = in_force.version_at([r.activated() for r in rows], instant)
    if number is not None:
        return next(r for r in rows if r.version == number)
    started = [r for r in rows if r.effective_from <= instant]
    return started[-1] if started else (rows[0] if rows else None)


async def version_in_force(
    session: AsyncSession, *, tenant: str, agreement_id: str, instant: datetime
) -> tuple[AgreementTerms, in_force.Span] | None:
    """The version in force at `instant` with its span, by the shared definition; None when none was."""
    rows = await versions(session, tenant=tenant, agreement_id=agreement_id)
    for span in in_force.spans([r.activated() for r in rows]):
        if span.covers(instant):
            return next(r for r in rows if r.version == span.version), span
    return None


async def spans_within(
    session: AsyncSession, *, tenant: str, agreement_id: str, start: datetime, end: datetime
) -> list[in_force.Span]:
    """The spans of [start, end) during which a version of the agreement was in force."""
    rows = await versions(session, tenant=tenant, agreement_id=agreement_id)
    return in_force.within([r.activated() for r in rows], start, end)


async def price_of(session: AsyncSession, terms: AgreementTerms) -> PriceV1 | None:
    """The agreement's price, else its offering's published price."""
    if terms.price:
        return PriceV1.model_validate(terms.price)
    if terms.offering_id:
        row = await session.get(OfferingPrice, (terms.tenant, terms.offering_id))
        if row is not None and row.price:
            return PriceV1.model_validate(row.price)
    return None


async def open_actions(session: AsyncSession, *, tenant: str, agreement_id: str) -> Sequence[ImprovementAction]:
    rows = await session.scalars(
        select(ImprovementAction)
        .where(
            col(ImprovementAction.tenant) == tenant,
            col(ImprovementAction.agreement_id) == agreement_id,
            col(ImprovementAction.status).in_(("open", "in_progress")),
        )
        .order_by(ImprovementAction.due_on, ImprovementAction.action_id)
    )
    return rows.all()


def money(value: Any) -> Decimal:
    return Decimal(str(value))
