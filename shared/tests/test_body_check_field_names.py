"""The shared body check (a number no field may take: NaN, Infinity, 1e400) names the field as the route the request
is for names every other error: `[1].good` on a route declaring `BRACKETS_FIELD_NAMES` (path parameters
included), `items.1.good` as pydantic does on any other; an NDJSON line by its index among the lines that are not
blank. On an app built by create_app, over HTTP."""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict
from starlette.types import Message, Receive, Scope, Send

from slm_shared.app import ServiceDefinition, create_app
from slm_shared.errors import BRACKETS_FIELD_NAMES, PROBLEM_JSON, FieldError, Unprocessable, field_path
from slm_shared.settings import ServiceSettings
from slm_shared.testing.app_client import running_app
from slm_shared.testing.pytest_plugin import make_token
from slm_shared.web.body_limit import BodySizeLimitMiddleware
from slm_shared.web.bounds import NOT_UTF8_REFUSED
from slm_shared.web.deps import StaffDep
from slm_shared.web.json_guard import REPARSE_MAX_BYTES, JsonRefused, body_refusal, check_document

router = APIRouter(prefix="/v1")


class Count(BaseModel):
    good: float


class Counts(BaseModel):
    items: list[Count]


@router.post("/counts")
async def dotted(data: Counts, principal: StaffDep) -> int:
    return len(data.items)


@router.post("/batches/{name}", openapi_extra=BRACKETS_FIELD_NAMES)
async def brackets(name: str, request: Request, principal: StaffDep) -> int:
    """Reads its own body, naming a field as `[1].good` (a count that is not a number)."""
    body = await request.body()
    lines = [line for line in body.splitlines() if line.strip()] if b"\n" in body else None
    rows: list[Any] = [json.loads(line) for line in lines] if lines is not None else json.loads(body)
    for index, row in enumerate(rows):
        if not isinstance(row.get("good"), int | float):
            error = FieldError(field=field_path([index, "good"], brackets=True), message="not a number")
            raise Unprocessable(f"refused: {error.field}", errors=[error])
    return len(rows)


inner = APIRouter(prefix="/inner")


@inner.post("/rows", openapi_extra=BRACKETS_FIELD_NAMES)
async def inner_rows(request: Request, principal: StaffDep) -> int:
    return len(json.loads(await request.body()))


# A router included in a router: its routes are copied into the app's, the list the body check reads.
router.include_router(inner, prefix="/nested")

DEFINITION = ServiceDefinition(
    name="names", title="Names", description="test", migrations_package="none", routers=[router]
)


@pytest.fixture
async def client(sqlite_url: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = ServiceSettings(database_url=sqlite_url, nats_url="nats://127.0.0.1:1", run_workers=False)
    async with running_app(create_app(DEFINITION, settings, auto_migrate=False), token=make_token()) as client:
        yield client


def named(response: httpx.Response) -> str:
    assert response.status_code == 422 and response.headers["content-type"].startswith(PROBLEM_JSON), response.text
    [error] = response.json()["errors"]
    assert error["field"] in response.json()["detail"], response.text
    return str(error["field"])


# `1` and 249 zeros `e60` is 1e309, infinite with an exponent of two digits (it was let through).
@pytest.mark.parametrize("token", ["NaN", "-Infinity", "1e400", "1E+400", "1" + "0" * 249 + "e60", '"x"'])
async def test_each_route_names_a_refused_number_as_it_names_every_field(client: httpx.AsyncClient, token: str) -> None:
    rows = f'[{{"good": 1}}, {{"good": {token}}}]'
    json_type = {"Content-Type": "application/json"}
    assert named(await client.post("/v1/batches/b-1", content=rows, headers=json_type)) == "[1].good"
    counts = f'{{"items": [{{"good": 1}}, {{"good": {token}}}]}}'
    assert named(await client.post("/v1/counts", content=counts, headers=json_type)) == "items.1.good"
    lines = f'{{"good": 1}}\n\n{{"good": {token}}}\n'
    ndjson = {"Content-Type": "application/x-ndjson"}
    assert named(await client.post("/v1/batches/b-1", content=lines, headers=ndjson)) == "[1].good"


class Named(BaseModel):
    name: str


class Names(BaseModel):
    items: list[Named]


@router.post("/names")
async def names(data: Names, principal: StaffDep) -> int:
    return len(data.items)


async def test_bytes_that_are_not_utf8_are_named_as_each_route_names_a_field(client: httpx.AsyncClient) -> None:
    """Every JSON parser refuses such a body as a whole (FastAPI's a 400 naming nothing): the field is named."""
    json_type = {"Content-Type": "application/json"}
    document = b'{"items": [{"name": "a"}, {"name": "b\xff"}]}'
    answer = await client.post("/v1/names", content=document, headers=json_type)
    assert named(answer) == "items.1.name" and NOT_UTF8_REFUSED in answer.json()["detail"], answer.text
    assert (
        named(await client.post("/v1/batches/b-1", content=b'[{"good": 1}, {"a\xff": 1}]', headers=json_type)) == "[1]"
    )
    lines = b'{"good": 1}\n\n{"good": 2, "note": "\xff"}\n'
    ndjson = {"Content-Type": "application/x-ndjson"}
    assert named(await client.post("/v1/batches/b-1", content=lines, headers=ndjson)) == "[1].note"
    assert (
        await client.post("/v1/names", content='{"items": [{"name": "é"}]}'.encode(), headers=json_type)
    ).json() == 1


async def test_a_route_of_an_included_router_names_as_it_declares(client: httpx.AsyncClient) -> None:
    json_type = {"Content-Type": "application/json"}
    answer = await client.post("/v1/nested/inner/rows", content='[{"good": 1}, {"good": NaN}]', headers=json_type)
    assert named(answer) == "[1].good"
    answer = await client.post("/v1/nested/inner/rows", content=b'[{"good": 1}, {"a": "\xff"}]', headers=json_type)
    assert named(answer) == "[1].a"


async def test_ndjson_is_read_again_up_to_its_first_line_that_is_not_utf8(client: httpx.AsyncClient) -> None:
    """As the lines' decoder stops there: where that line's field cannot be named (nested deeper than 64 levels),
    the route's own answer stands (on a path no route has, a 404), and no later line is read (the 63 lines after
    it, each naming `[k].note` if it were, were each read in full before, up to 256 KiB apiece)."""
    deep = b"[" * 70 + b'"\xff"' + b"]" * 70
    later = b'{"good": 1, "note": "\xff", "pad": [' + b"[]," * 1000 + b"[]]}"
    lines = b"\n".join([b'{"good": 1}', deep, *[later] * 63]) + b"\n"
    ndjson = {"Content-Type": "application/x-ndjson"}
    answer = await client.post("/nope", content=lines, headers=ndjson)
    assert answer.status_code == 404, answer.text
    first = b"\n".join([b'{"good": 1}', later, deep]) + b"\n"
    answer = await client.post("/nope", content=first, headers=ndjson)
    assert named(answer) == "1.note"


class Finite(BaseModel):
    model_config = ConfigDict(allow_inf_nan=False)

    good: float
    note: str = ""


ACCEPTED: list[float] = []


@router.post("/finite")
async def finite(data: Finite, principal: StaffDep) -> float:
    ACCEPTED.append(data.good)
    return data.good


@router.post("/plain")
async def plain(data: Count, principal: StaffDep) -> str:
    """Takes any float (`inf` included): what a route gets past the body check."""
    return repr(data.good)


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16", "utf-32-le", "utf-32", "utf-16-be"])
async def test_json_in_utf16_or_utf32_is_refused_before_the_route(client: httpx.AsyncClient, encoding: str) -> None:
    """Python's `json` reads UTF-16 and UTF-32 (as the route's parser would, `1e309` then reaching it as inf): JSON
    must be UTF-8 (RFC 8259 §8.1), so such a body is a 415 naming `body`, without a token too."""
    for document in ('{"good": 1e309}', '{"good": 1}'):
        for token in [{}, {"Authorization": ""}]:
            headers = {"Content-Type": "application/json", **token}
            answer = await client.post("/v1/plain", content=document.encode(encoding), headers=headers)
            assert answer.status_code == 415, answer.text
            assert answer.headers["content-type"].startswith(PROBLEM_JSON)
            assert answer.json()["errors"][0]["field"] == "body" and "UTF-8" in answer.json()["detail"]


async def test_utf8_json_with_a_byte_order_mark_is_read_as_before(client: httpx.AsyncClient) -> None:
    json_type = {"Content-Type": "application/json"}
    answer = await client.post("/v1/plain", content=b'\xef\xbb\xbf{"good": 1.5}', headers=json_type)
    assert answer.status_code == 200 and answer.json() == "1.5", answer.text
    answer = await client.post("/v1/counts", content=b'\xef\xbb\xbf{"items": [{"good": NaN}]}', headers=json_type)
    assert named(answer) == "items.0.good"


async def test_the_content_type_is_read_as_the_app_reads_it_the_first_header(client: httpx.AsyncClient) -> None:
    """Starlette's `request.headers.get` (FastAPI's body parsing) reads the first `Content-Type` header: so does the
    body check, a later `text/plain` skipping it no more."""
    for token in ("NaN", "1e309"):
        headers = [("content-type", "application/json"), ("content-type", "text/plain")]
        answer = await client.post("/v1/plain", content=f'{{"good": {token}}}', headers=headers)
        assert named(answer) == "good"
    headers = [("content-type", "application/json"), ("content-type", "text/plain")]
    answer = await client.post("/v1/names", content=b'{"items": [{"name": "b\xff"}]}', headers=headers)
    assert named(answer) == "items.0.name"
    headers = [("content-type", "application/json"), ("content-type", "text/plain")]
    answer = await client.post("/v1/plain", content='{"good": 1}'.encode("utf-16"), headers=headers)
    assert answer.status_code == 415, answer.text


async def test_a_body_over_the_reparse_bound_is_left_to_the_route_s_decoding(client: httpx.AsyncClient) -> None:
    """`NaN` (or a hex id holding `1e400`) may be text: a body over REPARSE_MAX_BYTES is not parsed a second time
    before authentication. The route's own validation refuses the number, naming it as pydantic does; nothing is
    accepted. Under the bound the body check names it (without a token)."""
    json_type = {"Content-Type": "application/json"}
    ACCEPTED.clear()
    pad = "NaN " * (REPARSE_MAX_BYTES // 4)
    big = json.dumps({"note": pad})[:-1] + ', "good": NaN}'
    assert len(big) > REPARSE_MAX_BYTES
    answer = await client.post("/v1/finite", content=big, headers=json_type)
    assert named(answer) == "good" and answer.json()["errors"][0]["type"] == "finite_number", answer.text
    answer = await client.post("/v1/finite", content=big.replace("NaN}", "1e309}"), headers=json_type)
    assert named(answer) == "good", answer.text
    # Without a token it is the route's 401 now, not the body check's 422.
    answer = await client.post("/v1/finite", content=big, headers={**json_type, "Authorization": ""})
    assert answer.status_code == 401, answer.text
    assert ACCEPTED == []
    small = json.dumps({"note": "NaN"})[:-1] + ', "good": NaN}'
    answer = await client.post("/v1/finite", content=small, headers={**json_type, "Authorization": ""})
    assert named(answer) == "good" and "NaN" in answer.json()["errors"][0]["message"], answer.text
    assert ACCEPTED == []


async def test_the_content_length_is_read_as_the_app_reads_it_the_first_header(client: httpx.AsyncClient) -> None:
    """A body declared over the limit is refused before it is read: declared by the first `Content-Length` header,
    the one Starlette's `request.headers.get` reads (a later one declaring more refused a body within the limit)."""
    document = b'{"good": 1.5}'
    limit = ServiceSettings.model_fields["max_body_bytes"].default
    within, over = str(len(document)), str(limit + 1)
    json_type = ("content-type", "application/json")
    answer = await client.post(
        "/v1/plain", content=document, headers=[json_type, ("content-length", within), ("content-length", over)]
    )
    assert answer.status_code == 200 and answer.json() == "1.5", answer.text
    answer = await client.post(
        "/v1/plain", content=document, headers=[json_type, ("content-length", over), ("content-length", within)]
    )
    assert answer.status_code == 413 and answer.headers["content-type"].startswith(PROBLEM_JSON), answer.text


def too_deep(response: httpx.Response, field: str = "body") -> None:
    """A 422 naming `field` as nested too deeply, as every route answers a body its parser cannot read for that."""
    assert named(response) == field and response.json()["errors"][0]["type"] == "too_deep", response.text
    assert response.json()["errors"][0]["message"] == "nested too deeply", response.text


@pytest.mark.parametrize("suspect", [False, True], ids=["route", "body-check"])
async def test_json_too_deep_for_the_parser_is_a_422_naming_the_body(client: httpx.AsyncClient, suspect: bool) -> None:
    """FastAPI answers a body `json.loads` stops at for its nesting (a RecursionError) with a 400 naming nothing;
    the body check, parsing a body that may hold a number no field may take, stopped there too and named `body` as
    "nested deeper than 10000 levels" (it was not). Both are the one 422 naming `body` (an NDJSON line: `[1]`)."""
    deep = "[" * 5000 + "]" * 5000
    nan = ', "x": NaN' if suspect else ""
    document = f'{{"good": 1, "note": {deep}{nan}}}'
    json_type = {"Content-Type": "application/json"}
    too_deep(await client.post("/v1/plain", content=document, headers=json_type))
    too_deep(await client.post("/v1/counts", content=f'{{"items": [{document}]}}', headers=json_type))
    if suspect:  # NDJSON a route reads itself: the body check's alone
        lines = f'{{"good": 1}}\n\n{document}\n'
        ndjson = {"Content-Type": "application/x-ndjson"}
        too_deep(await client.post("/v1/batches/b-1", content=lines, headers=ndjson), "[1]")
    shallow = '{"good": 1, "note": ' + "[" * 500 + "]" * 500 + "}"
    answer = await client.post("/v1/plain", content=shallow, headers=json_type)
    assert answer.status_code == 200 and answer.json() == "1.0", answer.text


async def test_a_body_that_is_not_json_is_a_400_naming_the_body(client: httpx.AsyncClient) -> None:
    """FastAPI locates JSON it cannot parse as `("body", <character offset>)`: the field was named `10`."""
    answer = await client.post("/v1/plain", content='{"good": 1', headers={"Content-Type": "application/json"})
    assert answer.status_code == 400 and answer.headers["content-type"].startswith(PROBLEM_JSON), answer.text
    [error] = answer.json()["errors"]
    assert error["field"] == "body" and error["type"] == "json_invalid", answer.text
    assert "(at character 10)" in error["message"] and "body: " in answer.json()["detail"], answer.text


async def test_a_content_length_of_digits_that_are_not_ascii_is_not_read_as_a_length() -> None:
    """A header value is read as latin-1: `"²".isdigit()` is true and `int("²")` raises, a 500 before the body was
    read (an HTTP server refuses such a header itself; a raw ASGI client does not). The bytes read are counted."""
    reached: list[bytes] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        reached.append((await receive())["body"])
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    limited = BodySizeLimitMiddleware(app, max_bytes=16)
    for body, status in ((b"12345", 204), (b"x" * 17, 413)):

        async def receive(body: bytes = body) -> Message:
            return {"type": "http.request", "body": body, "more_body": False}

        scope = {
            "type": "http",
            "method": "POST",
            "path": "/v1/plain",
            "headers": [(b"content-length", b"\xb2"), (b"content-type", b"text/plain")],
        }
        sent.clear()
        await limited(scope, receive, send)
        assert sent[0]["status"] == status, sent
    assert reached == [b"12345"]


def test_the_body_check_refuses_a_document_too_deep_for_its_own_walk() -> None:
    """A document parsed (or built) deeper than the walk over it can recurse is refused as nested too deeply, at any
    `max_depth`: the RecursionError of the walk escaped the check (a 500)."""
    deep: list[Any] = []
    for _ in range(10_000):
        deep = [deep]
    with pytest.raises(JsonRefused) as refused:
        check_document(deep, max_depth=10**6)
    assert refused.value.type == "too_deep" and refused.value.field == "body", refused.value
    assert refused.value.message == "nested too deeply"


def test_a_body_json_reads_but_too_deep_for_the_walk_is_refused_not_raised() -> None:
    """`json.loads` reads a body a few levels deeper than the walk checking it can recurse (near 990 levels, as deep
    as the stack in use allows): such a body holding a NaN got the walk's RecursionError out of the body check.
    Every depth around the parser's stop is answered: the NaN refused above it, nested too deeply from it on."""
    types: dict[str, list[int]] = {}
    for depth in range(sys.getrecursionlimit() - 300, sys.getrecursionlimit() + 50):
        body = ('{"a": ' * depth + "NaN" + "}" * depth).encode()
        refused = body_refusal(body, "application/json")
        assert refused is not None, depth
        types.setdefault(refused.type, []).append(depth)
    assert set(types) == {"finite_number", "too_deep"} and max(types["finite_number"]) < min(types["too_deep"])
