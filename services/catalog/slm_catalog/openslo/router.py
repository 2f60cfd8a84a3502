"""OpenSLO v1 and v1alpha documents in and out: all applied or, when any is refused, none."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

import yaml
from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import Field

from slm_catalog.indicators.service import indicator_catalogue
from slm_catalog.openslo import indicators, mapping, published, reapply, references, store
from slm_catalog.transfer import service as transfer
from slm_catalog.transfer.router import YAML_TYPES, not_a_document
from slm_catalog.transfer.schemas import ImportSummary
from slm_shared.errors import (
    DOCUMENTS_FIELD_NAMES,
    PROBLEM_RESPONSES,
    Conflict,
    FieldError,
    NotFound,
    ProblemError,
    Unprocessable,
    nested_too_deeply,
)
from slm_shared.web.deps import SessionDep, StaffDep
from slm_shared.web.json_guard import JsonRefused, check_document, load_json

router = APIRouter(prefix="/v1", tags=["OpenSLO"], responses=PROBLEM_RESPONSES)
MAX_DOCUMENTS = 2000


class _TextTimes(yaml.SafeLoader):
    """Timestamps stay the strings they were written as: what is exported is what was applied."""


_TextTimes.yaml_implicit_resolvers = {
    first: [r for r in resolvers if r[0] != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


class OpenSLOSummary(ImportSummary):
    documents: int = Field(description="documents stored: new ones and changed ones")
    unchanged: int = Field(0, description="documents applied before exactly as given: nothing done")
    updated_services: int = Field(0, description="services applied before whose name or description changed")
    updated_indicators: int = Field(0, description="indicators of SLIs applied before that changed: version + 1")


def _documents(body: bytes, content_type: str) -> list[Any]:
    try:
        if content_type.split(";")[0].strip().lower() in YAML_TYPES:
            loaded = [d for d in yaml.load_all(body, Loader=_TextTimes) if d is not None]
            each = [item for d in loaded for item in (d if isinstance(d, list) else [d])]
            for index, document in enumerate(each):  # named by its index among the documents, as JSON's are
                try:
                    check_document(document)
                except JsonRefused as refused:
                    raise JsonRefused((index, *refused.parts), refused.message, refused.type) from None
        else:
            loaded = [load_json(body)]
    except RecursionError:
        raise Unprocessable("The documents are nested too deeply", errors=[nested_too_deeply()]) from None
    except JsonRefused as refused:
        raise Unprocessable(
            f"The documents are refused: {refused.field_named('documents')}: {refused.message}",
            errors=[FieldError(field=refused.field_named("documents"), message=refused.message, type=refused.type)],
        ) from None
    except (yaml.YAMLError, ValueError) as exc:
        raise not_a_document(exc, yaml_body=content_type.split(";")[0].strip().lower() in YAML_TYPES) from exc
    flat: list[Any] = []
    for item in loaded:  # a YAML stream, a JSON array, or a YAML list of documents
        flat.extend(item if isinstance(item, list) else [item])
    if not flat or len(flat) > MAX_DOCUMENTS:
        raise Unprocessable(
            f"Send 1 to {MAX_DOCUMENTS} OpenSLO documents",
            errors=[FieldError(field="body", message=f"{len(flat)} documents")],
        )
    return flat


@router.post(
    "/openslo",
    response_model=OpenSLOSummary,
    status_code=201,
    openapi_extra={
        **DOCUMENTS_FIELD_NAMES,  # `documents[1] $.spec.name`, every refusal alike
        "requestBody": {
            "required": True,
            "content": {
                "application/yaml": {
                    "schema": {"type": "string", "description": "OpenSLO documents, multi-document YAML"}
                },
                "application/json": {"schema": {"type": "array", "items": {"type": "object"}}},
            },
        },
    },
)
async def apply_openslo(
    request: Request, response: Response, principal: StaffDep, session: SessionDep
) -> OpenSLOSummary:
    """Apply OpenSLO v1 / v1alpha documents: services, indicators and published offerings, all or nothing."""
    raw = _documents(await request.body(), request.headers.get("content-type", "application/json"))
    checked = mapping.check(raw, tenant=principal.tenant)
    if checked.errors:
        raise Unprocessable(_summary(checked.errors), errors=checked.errors)
    taken = await store.existing(session, tenant=principal.tenant)
    fresh = [body for body in checked.raw if (body["kind"], body["metadata"]["name"]) not in taken]
    changed = [
        body
        for body in checked.raw
        if (key := (body["kind"], body["metadata"]["name"])) in taken and taken[key].body != body
    ]
    if not fresh and not changed:
        response.status_code = 200  # applied before exactly as given: nothing to do
        return OpenSLOSummary(
            indicators=0,
            calendars=0,
            services=0,
            dependencies=0,
            offerings=0,
            documents=0,
            unchanged=len(checked.raw),
        )
    before = [row.body for row in taken.values()]
    updated_indicators = await indicators.update_changed(session, checked, tenant=principal.tenant, before=before)
    if checked.errors:
        raise Unprocessable(_summary(checked.errors), errors=checked.errors)
    known = set(await indicator_catalogue(session, tenant=principal.tenant))
    document = mapping.to_catalogue(checked, existing_indicators=known)
    if document is None:
        raise Unprocessable(_summary(checked.errors), errors=checked.errors)
    # services applied before, their documents kept or deleted since (the catalogue keeps the service)
    applied = {name for kind, name in taken if kind == "Service"}
    applied |= await store.released_services(session, tenant=principal.tenant)
    order = [entry.key for entry in document.services]
    document, again = await reapply.split(session, tenant=principal.tenant, document=document, applied_services=applied)
    stage_order = [entry.key for entry in document.services]
    try:
        summary = await transfer.import_document(session, tenant=principal.tenant, document=document)
        updated_services = versioned = 0
        stage_order = [entry.key for _, entry in again]
        for service, entry in again:
            services_changed, offerings_versioned = await reapply.update(
                session, service, entry, f"services.{stage_order.index(entry.key)}"
            )
            updated_services += services_changed
            versioned += offerings_versioned
    except ProblemError as exc:
        for error in exc.errors:  # the stage's service index, as an index into all the services given
            parts = error.field.split(".")
            if parts[0] == "services" and len(parts) > 1 and parts[1].isdigit() and int(parts[1]) < len(stage_order):
                error.field = ".".join(["services", str(order.index(stage_order[int(parts[1])])), *parts[2:]])
        raise _in_openslo_terms(exc, checked) from None
    await store.add(session, tenant=principal.tenant, documents=fresh)
    for body in changed:
        store.replace(taken[(body["kind"], body["metadata"]["name"])], body)
    published.openslo_applied(session, tenant=principal.tenant, documents=checked.raw)
    await session.flush()
    return OpenSLOSummary(
        **{**summary.model_dump(), "offerings": summary.offerings + versioned},
        documents=len(fresh) + len(changed),
        unchanged=len(checked.raw) - len(fresh) - len(changed),
        updated_services=updated_services,
        updated_indicators=updated_indicators,
    )


def _in_openslo_terms(exc: ProblemError, checked: mapping.Checked) -> ProblemError:
    """A catalogue refusal (a service key taken, say) named by the OpenSLO document it came from."""
    services = list(checked.named("Service").values())
    errors = []
    for error in exc.errors:
        parts = error.field.split(".")
        if parts[0] == "services" and len(parts) > 1 and parts[1].isdigit() and int(parts[1]) < len(services):
            index = services[int(parts[1])]
            rest = ".".join(parts[2:])
            where = "$.metadata.name" if rest in ("key", "") else f"$ (catalogue field {rest})"
            label = f"Service {checked.documents[index].metadata.name}"
            errors.append(FieldError(field=f"documents[{index}] {where}", message=f"{label}: {error.message}"))
        else:
            errors.append(error)
    exc.errors = errors
    exc.detail = _summary(errors)
    return exc


def _summary(errors: list[FieldError]) -> str:
    shown = "; ".join(f"{e.field}: {e.message}" for e in errors[:5])
    return f"The OpenSLO documents were refused, nothing was applied: {shown}"


@router.get(
    "/openslo",
    responses={200: {"content": {"application/yaml": {}, "application/json": {}}, "description": "the documents"}},
)
async def export_openslo(
    principal: StaffDep,
    session: SessionDep,
    format: Annotated[
        Literal["yaml", "json"], Query(description="yaml (default, multi-document) or json (an array)")
    ] = "yaml",
) -> Response:
    """The OpenSLO documents applied in this tenant, exactly as they were given, in the order given."""
    documents = await store.all_documents(session, tenant=principal.tenant)
    if format == "json":
        return Response(json.dumps(documents, indent=2), media_type="application/json")
    return Response(yaml.safe_dump_all(documents, sort_keys=False, allow_unicode=True), media_type="application/yaml")


@router.delete("/openslo/{kind}/{name}", status_code=204)
async def delete_openslo(
    kind: Annotated[str, Path(max_length=64, description="the document's kind, e.g. SLO")],
    name: Annotated[str, Path(max_length=63, description="the document's metadata.name")],
    principal: StaffDep,
    session: SessionDep,
) -> Response:
    """Delete an applied OpenSLO document: its pulled series stop (measured data stays), its subscriptions are
    disabled, its data sources stop; the catalogue's services, indicators and offerings stay. Refused (409) while
    another document names it."""
    taken = await store.existing(session, tenant=principal.tenant)
    row = taken.get((kind, name))
    if row is None:
        raise NotFound(f"No OpenSLO {kind} named {name} was applied")
    ordered = sorted(taken.values(), key=lambda held: held.position)
    before = [dict(held.body) for held in ordered]
    after = [dict(held.body) for held in ordered if held is not row]
    if named_by := references.referrers(after, kind, name):
        raise Conflict(
            f"{kind} {name} is named by {', '.join(named_by)}: delete those first, or apply them without it",
            errors=[FieldError(field="name", message=f"named by {', '.join(named_by)}")],
            extra={"referrers": named_by},
        )
    removed = published.unwired(kind=kind, name=name, before=before, after=after)
    await store.remove(session, row)
    if kind == "Service":
        await store.release_service(session, tenant=principal.tenant, key=name)
    published.openslo_removed(session, tenant=principal.tenant, removed=removed)
    return Response(status_code=204)
