"""Observation HTTP API: record (customer or provider on its behalf), list, read, annotate, withdraw."""

from __future__ import annotations

from fastapi import APIRouter

from slm_measurement.observations import service
from slm_measurement.observations.models import Observation, ObservationAnnotation
from slm_measurement.observations.schemas import (
    AnnotationCreate,
    AnnotationPublic,
    ObservationCreate,
    ObservationPublic,
)
from slm_shared.errors import PROBLEM_RESPONSES
from slm_shared.web.deps import ReaderDep, SessionDep, StaffDep
from slm_shared.web.pagination import Page, PageDep

router = APIRouter(prefix="/v1", tags=["observations"], responses=PROBLEM_RESPONSES)


def public(observation: Observation, annotations: list[ObservationAnnotation]) -> ObservationPublic:
    found = ObservationPublic.model_validate(observation, from_attributes=True)
    found.annotations = [AnnotationPublic.model_validate(a, from_attributes=True) for a in annotations]
    return found


@router.post("/agreements/{agreement_id}/observations", response_model=ObservationPublic, status_code=201)
async def record_observation(
    agreement_id: str, body: ObservationCreate, principal: ReaderDep, session: SessionDep
) -> ObservationPublic:
    """Record what the customer observed (a customer for its own agreements, or staff on its behalf)."""
    observation = await service.record(session, principal=principal, agreement_id=agreement_id, data=body)
    return public(observation, [])


@router.get("/agreements/{agreement_id}/observations", response_model=Page[ObservationPublic])
async def list_observations(
    agreement_id: str, principal: ReaderDep, session: SessionDep, page: PageDep
) -> Page[ObservationPublic]:
    """The agreement's observations, oldest first, each with its annotations."""
    await service.agreement_for(session, principal, agreement_id)
    rows = list(await service.of_agreement(session, tenant=principal.tenant, agreement_id=agreement_id))
    chosen = rows[page.offset : page.offset + page.limit]
    notes = await service.annotations_of(session, tenant=principal.tenant, observation_ids=[o.id for o in chosen])
    return Page(items=[public(o, notes[o.id]) for o in chosen], total=len(rows), limit=page.limit, offset=page.offset)


@router.get("/observations/{observation_id}", response_model=ObservationPublic)
async def get_observation(observation_id: str, principal: ReaderDep, session: SessionDep) -> ObservationPublic:
    """One observation with its annotations."""
    observation = await service.visible(session, principal, observation_id)
    notes = await service.annotations_of(session, tenant=principal.tenant, observation_ids=[observation.id])
    return public(observation, notes[observation.id])


@router.post("/observations/{observation_id}/annotations", response_model=AnnotationPublic, status_code=201)
async def annotate_observation(
    observation_id: str, body: AnnotationCreate, principal: StaffDep, session: SessionDep
) -> AnnotationPublic:
    """The provider annotates an observation (evidence, cause, incident, problem); it never edits it."""
    annotation = await service.annotate(session, principal=principal, observation_id=observation_id, data=body)
    return AnnotationPublic.model_validate(annotation, from_attributes=True)


@router.post("/observations/{observation_id}/withdraw", response_model=ObservationPublic)
async def withdraw_observation(observation_id: str, principal: ReaderDep, session: SessionDep) -> ObservationPublic:
    """The customer (or staff on its word) withdraws an observation: it stays on record and stops counting."""
    observation = await service.withdraw(session, principal=principal, observation_id=observation_id)
    notes = await service.annotations_of(session, tenant=principal.tenant, observation_ids=[observation.id])
    return public(observation, notes[observation.id])
