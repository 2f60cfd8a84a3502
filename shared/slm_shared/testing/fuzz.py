"""Property-based requests built from an OpenAPI document: no input may reach a 5xx or break the schema."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import quote

import httpx
import jsonschema  # type: ignore[import-untyped]
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

HOSTILE_INTS = [0, -1, 1, 2**31, 2**63, -(2**63) - 1, 10**20, 10**30]
HOSTILE_FLOATS = ["NaN", "Infinity", "-Infinity", "1e999", "-0.0", "1e-320"]
HOSTILE_STRINGS = ["", "x", " ", "\x00", "%00", "../..", "' OR 1=1 --", "é" * 300, "a" * 5000]
HOSTILE_DATES = ["9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z", "1970-01-01T00:00:00Z", "2026-01-01", "not a date"]
SKIPPED = ("/healthz", "/readyz", "/metrics")


def _resolve(schema: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = spec["components"]["schemas"][name]
    return schema


def _plausible(schema: dict[str, Any], known: str | None) -> st.SearchStrategy[Any]:
    """A value the parameter would ordinarily take, so one hostile neighbour reaches deep code."""
    text = json.dumps(schema)
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    if '"integer"' in text:
        return st.integers(0, 100)
    if '"number"' in text:
        return st.floats(0, 1).map(repr)
    if "date" in text:
        return st.sampled_from(["2026-01-01T00:00:00Z", "2025-06-01T00:00:00+02:00"])
    if '"boolean"' in text:
        return st.sampled_from(["true", "false"])
    return st.sampled_from([known or "x", "availability"])


def _hostile(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """A hostile value for one query or path parameter, as text or a number."""
    text = json.dumps(schema)
    choices: list[st.SearchStrategy[Any]] = [st.sampled_from(HOSTILE_STRINGS), st.text(max_size=40)]
    if '"integer"' in text:
        choices += [st.sampled_from(HOSTILE_INTS), st.integers()]
    if '"number"' in text:
        choices += [st.sampled_from(HOSTILE_FLOATS), st.floats().map(repr)]
    if "date" in text:
        choices.append(st.sampled_from(HOSTILE_DATES))
    return st.one_of(choices)


def _body(schema: dict[str, Any], spec: dict[str, Any], depth: int = 0) -> st.SearchStrategy[Any]:
    """A JSON value shaped roughly like the schema, with hostile leaves."""
    schema = _resolve(schema, spec)
    options = schema.get("anyOf") or schema.get("oneOf")
    if options:
        return st.one_of([_body(option, spec, depth) for option in options])
    kind = schema.get("type")
    if depth > 4:
        return st.none()
    if kind == "object" or "properties" in schema:
        properties = schema.get("properties", {})
        required = {name: _body(properties[name], spec, depth + 1) for name in schema.get("required", [])}
        optional = {name: _body(prop, spec, depth + 1) for name, prop in properties.items() if name not in required}
        return st.fixed_dictionaries(required, optional=optional)
    if kind == "array":
        return st.lists(_body(schema.get("items", {}), spec, depth + 1), max_size=3)
    leaves: list[st.SearchStrategy[Any]] = [st.none(), st.sampled_from(HOSTILE_STRINGS[:6])]
    if "enum" in schema:
        leaves.append(st.sampled_from(schema["enum"]))
    if kind == "integer":
        leaves += [st.sampled_from(HOSTILE_INTS), st.integers()]
    elif kind == "number":
        leaves += [st.sampled_from([0.0, 1.0, -1.0, 1e308, 10**30]), st.floats(allow_nan=False, allow_infinity=False)]
    elif kind == "boolean":
        leaves.append(st.booleans())
    elif schema.get("format") in ("date-time", "date"):
        leaves.append(st.sampled_from(HOSTILE_DATES))
    else:
        leaves.append(st.text(max_size=30))
    return st.one_of(leaves)


def operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """Every (method, path, operation) of the document but health and metrics."""
    return [
        (method.upper(), path, operation)
        for path, methods in spec["paths"].items()
        if path not in SKIPPED
        for method, operation in methods.items()
    ]


def _segment(value: Any) -> str:
    """A path parameter as one URL segment; "." and ".." are dot segments a client resolves away, so never sent."""
    quoted = quote(str(value), safe="")
    return "x" if quoted in ("", ".", "..") else quoted


@st.composite
def requests(draw: st.DrawFn, spec: dict[str, Any], known: dict[str, str]) -> tuple[str, str, str, dict[str, Any]]:
    """One request: a route, its path and query parameters, and a body where it takes one."""
    method, path, operation = draw(st.sampled_from(operations(spec)))
    url, query = path, {}
    for parameter in operation.get("parameters", []):
        schema, name = parameter.get("schema", {}), parameter["name"]
        value = draw(
            st.one_of(_plausible(schema, known.get(name)), _plausible(schema, known.get(name)), _hostile(schema))
        )
        if parameter["in"] == "path":
            url = url.replace("{" + name + "}", _segment(value))
        elif parameter["in"] == "query" and (parameter.get("required") or draw(st.integers(0, 2)) == 0):
            query[name] = str(value)
    content = operation.get("requestBody", {}).get("content", {})
    request: dict[str, Any] = {"params": query}
    if "application/json" in content:
        body = draw(_body(content["application/json"].get("schema", {}), spec))
        request["content"] = json.dumps(body).encode()
        request["headers"] = {"Content-Type": "application/json"}
    return method, path, url, request


def _ordinary(schema: dict[str, Any], known: str | None) -> str:
    text = json.dumps(schema)
    if "enum" in schema:
        return str(schema["enum"][0])
    if '"integer"' in text:
        return "1"
    if '"number"' in text:
        return "0.5"
    if "date" in text:
        return "2026-01-01T00:00:00Z"
    if '"boolean"' in text:
        return "true"
    return known or "x"


def _hostile_values(schema: dict[str, Any]) -> list[str]:
    text = json.dumps(schema)
    values = ["", "x", "a" * 5000]
    if '"integer"' in text or '"number"' in text:
        values += [str(v) for v in HOSTILE_INTS] + HOSTILE_FLOATS
    if "date" in text:
        values += HOSTILE_DATES
    return values


def sweep_requests(spec: dict[str, Any], known: dict[str, str]) -> list[tuple[str, str, dict[str, Any]]]:
    """Every parameter of every route made hostile in turn, the others ordinary."""
    found = []
    for method, path, operation in operations(spec):
        parameters = [p for p in operation.get("parameters", []) if p["in"] in ("path", "query")]
        ordinary = {p["name"]: _ordinary(p.get("schema", {}), known.get(p["name"])) for p in parameters}
        for target in parameters:
            for hostile in _hostile_values(target.get("schema", {})):
                values = {**ordinary, target["name"]: hostile}
                url = path
                query = {}
                for p in parameters:
                    if p["in"] == "path":
                        url = url.replace("{" + p["name"] + "}", _segment(values[p["name"]]))
                    elif p.get("required") or p is target:
                        query[p["name"]] = values[p["name"]]
                found.append(
                    (method, url, {"params": query, "json": {}} if "requestBody" in operation else {"params": query})
                )
    return found


async def sweep(client: httpx.AsyncClient, *, known: dict[str, str] | None = None) -> None:
    """Make each parameter of each route hostile in turn; fail on any 5xx."""
    spec = (await client.get("/openapi.json")).json()
    failures = []
    for method, url, request in sweep_requests(spec, known or {}):
        response = await client.request(method, url, **request)
        if response.status_code >= 500:
            failures.append(f"{method} {url} {request['params']} -> {response.status_code} {response.text[:200]}")
    assert not failures, "\n".join(failures)


async def sweep_nul(client: httpx.AsyncClient) -> None:
    """Give each path and query parameter of each route a value holding U+0000 in turn (the others ordinary): a path
    answers 404, a query 422 naming the parameter, problem+json both (`slm_shared.web.nul_guard`), never a 5xx."""
    spec = (await client.get("/openapi.json")).json()
    failures, swept = [], 0
    for method, path, operation in operations(spec):
        parameters = [p for p in operation.get("parameters", []) if p["in"] in ("path", "query")]
        ordinary = {p["name"]: _ordinary(p.get("schema", {}), None) for p in parameters}
        for target in parameters:
            values = {**ordinary, target["name"]: "a\x00b"}
            url = path
            for p in (p for p in parameters if p["in"] == "path"):
                url = url.replace("{" + p["name"] + "}", _segment(values[p["name"]]))
            query = {p["name"]: values[p["name"]] for p in parameters if p["in"] == "query"}
            response = await client.request(method, url, params=query)
            swept += 1
            expected = 404 if target["in"] == "path" else 422
            fields = [e.get("field") for e in response.json().get("errors", [])] if response.content else []
            if (
                response.status_code != expected
                or response.headers.get("content-type") != "application/problem+json"
                or (expected == 422 and fields != [target["name"]])
            ):
                failures.append(f"{method} {url} {query} -> {response.status_code} {response.text[:200]}")
    assert swept, "no route takes a path or query parameter"
    assert not failures, "\n".join(failures)


def response_validator(spec: dict[str, Any], operation: dict[str, Any], status: int) -> jsonschema.Validator | None:
    """A validator for a documented JSON response, or None where none is documented."""
    documented = operation.get("responses", {}).get(str(status), {})
    schema = documented.get("content", {}).get("application/json", {}).get("schema")
    if not schema:
        return None
    return jsonschema.Draft202012Validator({**schema, "components": spec["components"]})


async def fuzz(client: httpx.AsyncClient, *, examples: int, known: dict[str, str] | None = None) -> None:
    """Send `examples` generated requests; fail on any 5xx or a 2xx body that breaks its schema."""
    spec = (await client.get("/openapi.json")).json()
    by_route = {(m, p): op for m, p, op in operations(spec)}
    loop = asyncio.get_running_loop()

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],  # report the first failure as found: shrinking costs requests
    )
    @given(requests(spec, known or {}))
    def check(drawn: tuple[str, str, str, dict[str, Any]]) -> None:
        method, path, url, request = drawn
        response = asyncio.run_coroutine_threadsafe(client.request(method, url, **request), loop).result(60)
        where = f"{method} {url} {request.get('params')} {request.get('content', b'')[:300]!r}"
        assert response.status_code < 500, f"{where} -> {response.status_code} {response.text[:300]}"
        if 200 <= response.status_code < 300:
            validator = response_validator(spec, by_route[(method, path)], response.status_code)
            if validator is not None and response.headers.get("content-type", "").startswith("application/json"):
                errors = [e.message for e in validator.iter_errors(response.json())][:3]
                assert not errors, f"{where} -> {response.status_code} breaks its schema: {errors}"

    await asyncio.to_thread(check)
