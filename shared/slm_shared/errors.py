"""RFC 9457 problem details for every error a service returns."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from http import HTTPStatus
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_JSON = "application/problem+json"
logger = logging.getLogger(__name__)


class FieldError(BaseModel):
    """One invalid field: where it is and why it was refused."""

    field: str
    message: str
    type: str | None = None


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[FieldError] = Field(default_factory=list)


class ProblemError(Exception):
    """A domain error rendered as problem+json; subclasses fix the status."""

    status: int = 400
    problem_type: str = "about:blank"

    def __init__(
        self,
        detail: str,
        *,
        errors: Sequence[FieldError] = (),
        headers: dict[str, str] | None = None,
        status: int | None = None,
        problem_type: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = list(errors)
        self.headers = headers
        self.extra = extra or {}
        if status is not None:
            self.status = status
        if problem_type is not None:
            self.problem_type = problem_type


def describe(exc: BaseException) -> str:
    """An error as a person reads it (for dead letters and replay results): a problem's status, detail and
    fields, else the exception's class and message; never a Python repr."""
    if isinstance(exc, ProblemError):
        fields = ", ".join(f"{e.field}: {e.message}" for e in exc.errors)
        return f"{exc.status} {exc.detail}" + (f" ({fields})" if fields else "")
    message = str(exc)
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


class BadRequest(ProblemError):
    status = 400


class Unauthorized(ProblemError):
    status = 401

    def __init__(self, detail: str = "A valid bearer token is required") -> None:
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(ProblemError):
    status = 403


class NotFound(ProblemError):
    status = 404


class Conflict(ProblemError):
    status = 409


class PreconditionFailed(ProblemError):
    status = 412


class PreconditionRequired(ProblemError):
    status = 428


class PayloadTooLarge(ProblemError):
    status = 413


class Unprocessable(ProblemError):
    status = 422


# A JSON document its parser could not read for its nesting (Python's `json` and msgspec stop near the interpreter's
# recursion limit, pydantic's own parser at 200 levels): a 422 naming `body` (an NDJSON body its line, `[3]`), as
# the other bounds of a body are answered; no route is given such a document.
NESTED_TOO_DEEPLY = "nested too deeply"
TOO_DEEP = "too_deep"


def nested_too_deeply(field: str = "body") -> FieldError:
    """The error naming a document (or an NDJSON line) nested too deeply for its parser."""
    return FieldError(field=field, message=NESTED_TOO_DEEPLY, type=TOO_DEEP)


def problem_response(
    status: int,
    detail: str | None = None,
    *,
    errors: Sequence[FieldError] = (),
    problem_type: str = "about:blank",
    instance: str | None = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> JSONResponse:
    """Build a problem+json response."""
    body = Problem(
        type=problem_type,
        title=HTTPStatus(status).phrase,
        status=status,
        detail=detail,
        instance=instance,
        errors=list(errors),
    ).model_dump(exclude_none=True)
    if extra:
        body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def field_path(parts: Iterable[str | int], *, brackets: bool = False) -> str:
    """How an answer names a field, from the keys and list indexes leading to it: joined by dots, an index as a
    part of its own (`targets.0.value`, as every service's pydantic models are answered) or, with `brackets`,
    after its list (`[3].good`, `series[0].indicator`, as measurement's ingest answers its JSON arrays); `body`
    for the document itself."""
    named: list[str] = []
    for part in parts:
        if brackets and isinstance(part, int):
            named.append(f"[{part}]")
        else:
            named.append(f".{part}" if named else str(part))
    return "".join(named) or "body"


def json_path(parts: Iterable[str | int]) -> str:
    """A field of one document as a JSON path: `$.spec.indicators[0].name`."""
    return "$" + "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in parts)


# How a route names a field: `dotted` (`targets.0.value`, pydantic's, every route's unless it declares another),
# `brackets` (`[3].good`, `series[0].indicator`: measurement's batches) or `documents` (`documents[1] $.spec.name`:
# catalog's OpenSLO apply, whose body is a document or an array of them). A route declares its way in its
# `openapi_extra` (so its OpenAPI operation says so too), and a refusal made before it runs (by
# `slm_shared.web.body_limit`: a number that is not finite, bytes that are not UTF-8) names the field as the route's
# own errors do.
FieldNames = Literal["dotted", "brackets", "documents"]
FIELD_NAMES_KEY = "x-field-names"
BRACKETS_FIELD_NAMES: dict[str, Any] = {FIELD_NAMES_KEY: "brackets"}
DOCUMENTS_FIELD_NAMES: dict[str, Any] = {FIELD_NAMES_KEY: "documents"}


def field_names_of(openapi_extra: dict[str, Any] | None) -> FieldNames:
    """How a route declaring `openapi_extra` names its fields."""
    declared = (openapi_extra or {}).get(FIELD_NAMES_KEY)
    return declared if declared in ("brackets", "documents") else "dotted"


def name_field(parts: Sequence[str | int], names: FieldNames) -> str:
    """A field as a route naming fields `names` names it, from the keys and list indexes leading to it (from the
    body's top); `body` for the body itself. `documents`: the first index is the document's in an array of them
    (0 where the body is one document)."""
    if names == "documents" and parts:
        index, rest = (parts[0], parts[1:]) if isinstance(parts[0], int) else (0, parts)
        return f"documents[{index}] {json_path(rest)}"
    return field_path(parts, brackets=names == "brackets")


def field_name(loc: Sequence[Any]) -> str:
    """Turn a pydantic error location into a dotted field path, without the 'body' root."""
    parts = list(loc)
    if parts and parts[0] in {"body", "query", "path", "header", "cookie"}:
        parts = parts[1:] if len(parts) > 1 or parts[0] != "body" else parts
    return field_path(parts)


def validation_errors(raw: Sequence[Any]) -> list[FieldError]:
    """Convert pydantic/FastAPI error dicts into field errors. A body that is not JSON is named `body`: FastAPI
    locates it as `("body", <character offset>)`, which named a field `57`; the offset is told in the message."""
    return [
        _not_json(err)
        if err.get("type") == "json_invalid"
        else FieldError(field=field_name(err.get("loc", ())), message=err.get("msg", ""), type=err.get("type"))
        for err in raw
    ]


def _not_json(err: dict[str, Any]) -> FieldError:
    loc, why = list(err.get("loc", ())), (err.get("ctx") or {}).get("error")
    message = f"{err.get('msg', '')}: {why}" if why else str(err.get("msg", ""))
    if loc[:1] == ["body"] and len(loc) == 2 and isinstance(loc[1], int):
        message = f"{message} (at character {loc[1]})"
        loc = loc[:1]
    return FieldError(field=field_name(loc), message=message, type="json_invalid")


def install_error_handlers(app: FastAPI) -> None:
    """Render every error, including unexpected ones, as problem+json."""

    @app.exception_handler(ProblemError)
    async def _problem(request: Request, exc: ProblemError) -> JSONResponse:
        return problem_response(
            exc.status,
            exc.detail,
            errors=exc.errors,
            problem_type=exc.problem_type,
            instance=request.url.path,
            headers=exc.headers,
            extra=exc.extra,
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = validation_errors(exc.errors())
        status = 400 if any(e.type == "json_invalid" for e in errors) else 422
        detail = "; ".join(f"{e.field}: {e.message}" for e in errors[:5])
        return problem_response(status, detail, errors=errors, instance=request.url.path)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and isinstance(exc.__cause__, RecursionError):
            # FastAPI's "error parsing the body", raised from the RecursionError of `json.loads`: too deep a body
            error = nested_too_deeply()
            detail = f"The request body is refused: {error.field}: {error.message}"
            return problem_response(422, detail, errors=[error], instance=request.url.path)
        return problem_response(
            exc.status_code,
            str(exc.detail) if exc.detail else None,
            instance=request.url.path,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem_response(500, "Internal error", instance=request.url.path)


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "content": {PROBLEM_JSON: {}}, "description": HTTPStatus(status).phrase}
    for status in (400, 401, 403, 404, 409, 412, 413, 422, 428)
}
