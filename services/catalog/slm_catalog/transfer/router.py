"""Bulk export and import of the catalogue as YAML or JSON."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

import yaml
from fastapi import APIRouter, Query, Request, Response
from pydantic import ValidationError

from slm_catalog.transfer import service
from slm_catalog.transfer.schemas import CatalogDocument, ImportSummary
from slm_shared.errors import (
    PROBLEM_RESPONSES,
    BadRequest,
    FieldError,
    Unprocessable,
    nested_too_deeply,
    validation_errors,
)
from slm_shared.web.deps import SessionDep, StaffDep
from slm_shared.web.json_guard import JsonRefused, check_document, load_json

router = APIRouter(prefix="/v1", tags=["export and import"], responses=PROBLEM_RESPONSES)
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml")


def not_a_document(exc: Exception, *, yaml_body: bool) -> BadRequest:
    """A body that is not YAML (a YAML content type) or not JSON: a 400 naming `body`, as every route answers a JSON
    body that is not JSON (`json_invalid`; `yaml_invalid` for YAML)."""
    what = "YAML" if yaml_body else "JSON"
    return BadRequest(
        f"The body is not valid {what}: {exc}",
        errors=[FieldError(field="body", message=f"not valid {what}: {exc}", type=f"{what.lower()}_invalid")],
    )


@router.get(
    "/export",
    responses={
        200: {
            "model": CatalogDocument,  # also puts the schema the import refers to into the document
            "content": {"application/yaml": {}, "application/json": {}},
            "description": "the catalogue",
        }
    },
)
async def export_catalogue(
    principal: StaffDep,
    session: SessionDep,
    format: Annotated[Literal["yaml", "json"], Query(description="yaml (default) or json")] = "yaml",
) -> Response:
    """The whole catalogue (indicators, calendars, services, dependencies, every offering version) as one document."""
    document = (await service.export_document(session, tenant=principal.tenant)).model_dump(mode="json")
    if format == "json":
        return Response(json.dumps(document, indent=2), media_type="application/json")
    return Response(yaml.safe_dump(document, sort_keys=False, allow_unicode=True), media_type="application/yaml")


def _parse(body: bytes, content_type: str) -> Any:
    try:
        if content_type.split(";")[0].strip().lower() in YAML_TYPES:
            return check_document(yaml.safe_load(body))
        return load_json(body)
    except RecursionError:
        raise Unprocessable("The document is nested too deeply", errors=[nested_too_deeply()]) from None
    except JsonRefused as refused:
        raise Unprocessable(
            f"The document is refused: {refused}",
            errors=[FieldError(field=refused.field, message=refused.message, type=refused.type)],
        ) from None
    except (yaml.YAMLError, ValueError) as exc:
        raise not_a_document(exc, yaml_body=content_type.split(";")[0].strip().lower() in YAML_TYPES) from exc


@router.post(
    "/import",
    response_model=ImportSummary,
    status_code=201,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/yaml": {"schema": {"$ref": "#/components/schemas/CatalogDocument"}},
                "application/json": {"schema": {"$ref": "#/components/schemas/CatalogDocument"}},
            },
        }
    },
)
async def import_catalogue(request: Request, principal: StaffDep, session: SessionDep) -> ImportSummary:
    """Create a whole catalogue document (YAML or JSON) in this tenant, all or nothing; existing keys are refused."""
    raw = _parse(await request.body(), request.headers.get("content-type", "application/json"))
    try:
        document = CatalogDocument.model_validate(raw)
    except ValidationError as exc:
        errors = validation_errors(exc.errors())
        detail = "; ".join(f"{e.field}: {e.message}" for e in errors[:5])
        raise Unprocessable(f"The catalogue document is not valid: {detail}", errors=errors) from exc
    return await service.import_document(session, tenant=principal.tenant, document=document)
