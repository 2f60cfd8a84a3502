"""Recording, annotating and withdrawing observations, and counting them on the agreement's objectives."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from slm_measurement import repository, terms
from slm_measurement.domain.observed import merged, minute_span
from slm_measurement.observations.models import Observation, ObservationAnnotation
from slm_measurement.observations.schemas import AnnotationCreate, ObservationCreate
from slm_measurement.wake_keys import EVALUATION_PENDING
from slm_shared.auth import Principal
from slm_shared.bus import record_event
from slm_shared.contracts import EVENTS
from slm_shared.contracts.payloads import ObservationAnnotatedV1, ObservationRecordedV1
from slm_shared.db import utcnow
from slm_shared.errors import Conflict, FieldError, NotFound, Unprocessable
from slm_shared.terms import observations as observation_terms

MAX_AGE = timedelta(days=400)
FUTURE_SLACK = timedelta(minutes=5)
_SEVERITY = {"low": "info", "medium": "warning", "high": "critical", "critical": "critical"}


def _refuse(field: str, message: str) -> Unprocessable:
    return Unprocessable(f"{field}: {message}", errors=[FieldError(field=field, message=message)])


async def agreement_for(session: AsyncSession, principal: Principal, agreement_id: str) -> terms.AgreementTerms:
    """The agreement's newest version, if the principal may see it (a customer only its own party's)."""
    versions = await terms.versions(session, tenant=principal.tenant, agreement_id=agreement_id)
    if not versions or (principal.is_customer_only and versions[-1].consumer_party_id != principal.party):
        raise NotFound(f"No agreement {agreement_id}")
    return versions[-1]


async def record(
    session: AsyncSession,
    *,
    principal: Principal,
    agreement_id: str,
    data: ObservationCreate,
    now: datetime | None = None,
) -> Observation:
    """Record an observation as fact; it counts if the terms in force at its start say so."""
    now = now or utcnow()
    latest = await agreement_for(session, principal, agreement_id)
    if data.end <= data.start:
        raise _refuse("end", "must be after start")
    if data.end > now + FUTURE_SLACK:
        raise _refuse("end", "an observation is of what was seen: it cannot end in the future")
    if data.start < now - MAX_AGE:
        raise _refuse("start", f"at most {MAX_AGE.days} days ago")
    known = {
        o.objective_id
        for o in await repository.agreement_objectives(session, tenant=principal.tenant, agreement_id=agreement_id)
    }
    for index, objective_id in enumerate(data.objective_ids):
        if objective_id not in known:
            raise _refuse(f"objective_ids.{index}", f"no objective {objective_id} in this agreement")
    version = await terms.terms_at(session, tenant=principal.tenant, agreement_id=agreement_id, instant=data.start)
    version = version or latest
    observation = Observation(
        tenant=principal.tenant,
        agreement_id=agreement_id,
        agreement_version=version.version,
        service_key=latest.service_key,
        consumer_party_id=latest.consumer_party_id,
        kind=data.kind,
        summary=data.summary,
        start=data.start,
        end=data.end,
        objective_ids=sorted(set(data.objective_ids)),
        impact=data.impact,
        reference=data.reference,
        counts=observation_terms.counts(version.observation_terms, data.kind),
        recorded_by=principal.subject[:200],
        on_behalf=not principal.is_customer_only,
        recorded_at=now,
    )
    session.add(observation)
    await session.flush()
    await refresh_objectives(session, tenant=principal.tenant, agreement_id=agreement_id, now=now)
    record_event(
        session,
        EVENTS.observation_recorded,
        tenant=principal.tenant,
        subject=observation.id,
        data=ObservationRecordedV1(
            observation_id=observation.id,
            agreement_id=agreement_id,
            agreement_name=latest.name,
            service_key=latest.service_key,
            consumer_party_id=latest.consumer_party_id,
            kind=data.kind,
            summary=data.summary,
            start=data.start,
            end=data.end,
            objective_ids=observation.objective_ids,
            impact=data.impact,
            reference=data.reference,
            counts=observation.counts,
            recorded_by=observation.recorded_by,
            recorded_at=now,
            severity=_SEVERITY[data.impact],
        ),
    )
    return observation


async def visible(
    session: AsyncSession, principal: Principal, observation_id: str, *, lock: bool = False
) -> Observation:
    found = await session.get(Observation, observation_id, with_for_update=lock)
    if found is None or found.tenant != principal.tenant:
        raise NotFound(f"No observation {observation_id}")
    if principal.is_customer_only and found.consumer_party_id != principal.party:
        raise NotFound(f"No observation {observation_id}")
    return found


async def annotate(
    session: AsyncSession, *, principal: Principal, observation_id: str, data: AnnotationCreate
) -> ObservationAnnotation:
    """Add the provider's annotation; the observation itself is left as recorded."""
    observation = await visible(session, principal, observation_id)
    annotation = ObservationAnnotation(
        tenant=principal.tenant,
        observation_id=observation.id,
        note=data.note,
        cause=data.cause,
        incident_ref=data.incident_ref,
        problem_ref=data.problem_ref,
        evidence_url=str(data.evidence_url) if data.evidence_url else None,
        author=principal.subject[:200],
    )
    session.add(annotation)
    await session.flush()
    record_event(
        session,
        EVENTS.observation_annotated,
        tenant=principal.tenant,
        subject=observation.id,
        data=ObservationAnnotatedV1(
            observation_id=observation.id,
            annotation_id=annotation.id,
            agreement_id=observation.agreement_id,
            service_key=observation.service_key,
            consumer_party_id=observation.consumer_party_id,
            note=annotation.note,
            cause=annotation.cause,
            incident_ref=annotation.incident_ref,
            problem_ref=annotation.problem_ref,
            author=annotation.author,
            annotated_at=annotation.created_at,
        ),
    )
    return annotation


async def withdraw(session: AsyncSession, *, principal: Principal, observation_id: str) -> Observation:
    """The customer withdraws an observation: it stays on record, and no longer counts."""
    observation = await visible(session, principal, observation_id, lock=True)
    if observation.withdrawn_at is not None:
        raise Conflict(f"Observation {observation_id} was already withdrawn")
    observation.withdrawn_at, observation.withdrawn_by = utcnow(), principal.subject[:200]
    await session.flush()
    await refresh_objectives(session, tenant=principal.tenant, agreement_id=observation.agreement_id)
    return observation


async def of_agreement(
    session: AsyncSession, *, tenant: str, agreement_id: str, start: datetime | None = None, end: datetime | None = None
) -> Sequence[Observation]:
    """The agreement's observations (overlapping [start, end) when given), oldest first."""
    query = select(Observation).where(col(Observation.tenant) == tenant, col(Observation.agreement_id) == agreement_id)
    if start is not None:
        query = query.where(col(Observation.end) > start)
    if end is not None:
        query = query.where(col(Observation.start) < end)
    rows = await session.scalars(query.order_by(col(Observation.start), col(Observation.id)))
    return rows.all()


async def annotations_of(
    session: AsyncSession, *, tenant: str, observation_ids: Sequence[str]
) -> dict[str, list[ObservationAnnotation]]:
    found: dict[str, list[ObservationAnnotation]] = {oid: [] for oid in observation_ids}
    if not observation_ids:
        return found
    rows = await session.scalars(
        select(ObservationAnnotation)
        .where(
            col(ObservationAnnotation.tenant) == tenant,
            col(ObservationAnnotation.observation_id).in_(list(observation_ids)),
        )
        .order_by(col(ObservationAnnotation.created_at), col(ObservationAnnotation.id))
    )
    for row in rows.all():
        found[row.observation_id].append(row)
    return found


def affects(observation: Observation, objective_id: str) -> bool:
    return not observation.objective_ids or objective_id in observation.objective_ids


async def refresh_objectives(
    session: AsyncSession, *, tenant: str, agreement_id: str, now: datetime | None = None
) -> None:
    """Put each objective's counted observed spans on it and have it evaluated again (the evaluation worker of this
    process is woken once the transaction commits)."""
    counted = [
        o
        for o in await of_agreement(session, tenant=tenant, agreement_id=agreement_id)
        if o.counts and o.withdrawn_at is None
    ]
    for objective in await repository.agreement_objectives(session, tenant=tenant, agreement_id=agreement_id):
        spans = merged(minute_span(o.start, o.end) for o in counted if affects(o, objective.objective_id))
        stored = [{"start": s.start.isoformat(), "end": s.end.isoformat()} for s in spans]
        if stored == (objective.observed or []):
            continue
        objective.observed = stored
        objective.needs_evaluation = True
        session.info[EVALUATION_PENDING] = True  # wakes the evaluation worker after commit
        await repository.forget_objective_tallies(session, objective_row_id=objective.id)
    await session.flush()
