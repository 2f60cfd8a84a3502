"""Query parameters read as one model: validated once per request, documented in OpenAPI from the same model.

FastAPI validates each declared query parameter on its own, every request (its aliases, the multidict, a
validator call per field), which cost a hot list more than its SQL. A route that takes `request` instead
validates `request.query_params` in one call of the model's validator and declares the parameters through
`openapi_extra`: the same names, schemas and descriptions FastAPI writes for `Annotated[Model, Query()]`.
A value refused is the `RequestValidationError` FastAPI raises (location `("query", name)`), so the answer is
the same problem+json 422 naming the parameter. Parameters the model does not name are ignored, as FastAPI
ignores undeclared ones; a repeated parameter counts with its last value, as FastAPI reads a single value.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


class QueryModel(Generic[M]):
    """Reads a route's query parameters into `model` (every field optional, the model frozen)."""

    def __init__(self, model: type[M]) -> None:
        if not model.model_config.get("frozen"):
            raise TypeError(f"{model.__name__} must be frozen: the parameters' defaults are shared by requests")
        self.model = model
        self.defaults = model()  # what a request with no query string gets (defaults are not validated, as FastAPI's)
        self.parameters = openapi_parameters(model)

    def parse(self, request: Request) -> M:
        """The request's query parameters as the model; raises `RequestValidationError` naming what is refused."""
        if not request.scope.get("query_string"):
            return self.defaults
        try:
            return self.model.model_validate(dict(request.query_params))
        except ValidationError as exc:
            errors = exc.errors(include_url=False)
            raise RequestValidationError([{**error, "loc": ("query", *error["loc"])} for error in errors]) from None

    def openapi(self, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """`openapi_extra` declaring the parameters (before any parameters `extra` declares)."""
        extra = dict(extra or {})
        return {**extra, "parameters": [*self.parameters, *extra.get("parameters", [])]}


def openapi_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    """The OpenAPI query parameters of a model's fields, as FastAPI writes them for `Annotated[model, Query()]`."""
    schema = model.model_json_schema(mode="validation")
    parameters = []
    for name, field in model.model_fields.items():
        alias = field.alias or name
        property_schema = dict(schema["properties"][alias])
        if field.default is None and not field.is_required():
            property_schema.pop("default", None)  # FastAPI leaves a null default unwritten
        parameter: dict[str, Any] = {"name": alias, "in": "query", "required": field.is_required()}
        parameter["schema"] = property_schema
        if field.description:
            parameter["description"] = field.description
        parameters.append(parameter)
    return parameters
