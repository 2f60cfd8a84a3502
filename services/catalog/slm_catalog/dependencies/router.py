"""Dependency routes: what a service runs on, and what depends on it."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from slm_catalog.dependencies import service as dependencies
from slm_catalog.dependencies.service import DependencyCreate, RelatedService
from slm_catalog.services import repository as services_repository
from slm_catalog.services.service import require_service
from slm_shared.errors import PROBLEM_RESPONSES, FieldError, NotFound, Unprocessable
from slm_shared.web.deps import SessionDep, StaffDep

router = APIRouter(prefix="/v1/services/{service_id}", tags=["dependencies"], responses=PROBLEM_RESPONSES)


@router.post("/dependencies", status_code=status.HTTP_201_CREATED, response_model=RelatedService)
async def add_dependency(
    service_id: str, data: DependencyCreate, principal: StaffDep, session: SessionDep
) -> RelatedService:
    """Declare that this service depends on a supporting service; a cycle is refused and named."""
    dependent = await require_service(session, tenant=principal.tenant, service_id=service_id)
    supporting = await services_repository.get_service(
        session, tenant=principal.tenant, service_id=data.supporting_service_id
    )
    if supporting is None:
        message = f"no service {data.supporting_service_id}"
        raise Unprocessable(message, errors=[FieldError(field="supporting_service_id", message=message)])
    await dependencies.add_dependency(session, service=dependent, supporting=supporting, description=data.description)
    return RelatedService.model_validate({**supporting.model_dump(), "depth": 1})


@router.delete("/dependencies/{supporting_service_id}", status_code=status.HTTP_204_NO_CONTENT)
async def remove_dependency(
    service_id: str, supporting_service_id: str, principal: StaffDep, session: SessionDep
) -> Response:
    """Remove a dependency."""
    dependent = await require_service(session, tenant=principal.tenant, service_id=service_id)
    supporting = await require_service(session, tenant=principal.tenant, service_id=supporting_service_id)
    if not await dependencies.remove_dependency(session, service=dependent, supporting=supporting):
        raise NotFound(f"{dependent.key} does not depend on {supporting.key}")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/supporting", response_model=list[RelatedService])
async def supporting_services(
    service_id: str, principal: StaffDep, session: SessionDep, transitive: bool = False
) -> list[RelatedService]:
    """The services this one depends on: direct, or every level with `transitive=true`."""
    found = await require_service(session, tenant=principal.tenant, service_id=service_id)
    return list(await dependencies.related_services(session, service=found, reverse=False, transitive=transitive))


@router.get("/dependents", response_model=list[RelatedService])
async def dependent_services(
    service_id: str, principal: StaffDep, session: SessionDep, transitive: bool = True
) -> list[RelatedService]:
    """The services affected if this one degrades (transitively by default)."""
    found = await require_service(session, tenant=principal.tenant, service_id=service_id)
    return list(await dependencies.related_services(session, service=found, reverse=True, transitive=transitive))
