"""Every refusal of one endpoint names a field one way, whatever was wrong with it.

Measurement's batch endpoints (`POST /v1/measurements`, `POST /v1/tickets/events`) name a field as `[1].good`,
`series[0].good[1]`: msgspec's and pydantic's refusals (a wrong type, a missing field), a lone surrogate, a NUL. A
non-finite number (NaN, Infinity, 1e400) is refused before the route runs, by the shared body check, which named it
`1.good` (pydantic's way, right for every other route): two names for one field of one endpoint. Over HTTP, on
SQLite and PostgreSQL; a refused batch leaves what is stored as it was, and nothing answers a 500.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from slm_measurement.models import MinuteBucket
from slm_measurement.tickets.models import TicketEventRow
from slm_shared.errors import PROBLEM_JSON
from slm_shared.web.json_guard import REPARSE_MAX_BYTES

AT = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=5)
MARK = "@@bad@@"
JSON = {"Content-Type": "application/json"}
NDJSON = {"Content-Type": "application/x-ndjson"}
# how a number no field may take is written in a body
NON_FINITE = [b"NaN", b"Infinity", b"-Infinity", b"1e400"]


def row(**changed: Any) -> dict[str, Any]:
    return {"service": "payments", "indicator": "availability", "scope": "eu", "timestamp": AT.isoformat(),
            "good": 9, "total": 10, **changed}  # fmt: skip


def columns(**changed: Any) -> dict[str, Any]:
    one = {"service": "payments", "indicator": "availability", "scope": "eu", "timestamps": [AT.timestamp()] * 2,
           "good": [9, 8], "total": [10, 10], **changed}  # fmt: skip
    return {"series": [one]}


def ticket_event(**changed: Any) -> dict[str, Any]:
    return {"id": "e-1", "ticket_id": "T-1", "type": "opened", "at": AT.isoformat(), "service": "payments",
            "priority": "P2", **changed}  # fmt: skip


def written(document: Any, token: bytes) -> bytes:
    """`document` as JSON, its MARK (a string) written as `token`."""
    return json.dumps(document).encode().replace(json.dumps(MARK).encode(), token)


async def stored(app: FastAPI) -> tuple[list[Any], list[Any]]:
    """Every stored minute and ticket event, as the tables hold them."""
    async with app.state.db.sessionmaker() as session:
        minutes = (await session.execute(select(MinuteBucket.__table__))).all()
        events = (await session.execute(select(TicketEventRow.__table__))).all()
    return sorted(map(tuple, minutes), key=repr), sorted(map(tuple, events), key=repr)


def named(response: httpx.Response, status: int = 422) -> str:
    """The one field a refusal names (a 422 problem+json, never a 500)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON), response.headers
    fields = {error["field"] for error in response.json()["errors"]}
    assert len(fields) == 1, response.text
    return fields.pop()


@pytest.fixture
async def kept(app_client: tuple[FastAPI, httpx.AsyncClient]) -> tuple[list[Any], list[Any]]:
    """A point and a ticket event stored before the refused requests: what is stored must stay as it is."""
    app, client = app_client
    assert (await client.post("/v1/measurements", json=[row(good=3)])).status_code == 202
    assert (await client.post("/v1/tickets/events", json=[ticket_event(id="e-0", ticket_id="T-0")])).status_code == 202
    before = await stored(app)
    assert before[0] and before[1]
    return before


async def test_a_point_s_count_is_named_one_way_whatever_is_wrong_with_it(
    app_client: tuple[FastAPI, httpx.AsyncClient], kept: tuple[list[Any], list[Any]]
) -> None:
    app, client = app_client
    rows = [row(), row(good=MARK)]
    for token in [*NON_FINITE, b'"many"', b"-1", b"[9]"]:
        assert named(await client.post("/v1/measurements", content=written(rows, token), headers=JSON)) == "[1].good"
    missing = [row(), {k: v for k, v in row().items() if k != "service"}]
    assert named(await client.post("/v1/measurements", json=missing)) == "[1].service"
    assert await stored(app) == kept


async def test_a_columnar_count_is_named_one_way_whatever_is_wrong_with_it(
    app_client: tuple[FastAPI, httpx.AsyncClient], kept: tuple[list[Any], list[Any]]
) -> None:
    app, client = app_client
    batch = columns(good=[9, MARK])
    for token in [*NON_FINITE, b'"many"', b"-1"]:
        answer = await client.post("/v1/measurements", content=written(batch, token), headers=JSON)
        assert named(answer) == "series[0].good[1]", token
    assert await stored(app) == kept


async def test_an_ndjson_line_s_count_is_named_after_its_line_whatever_is_wrong_with_it(
    app_client: tuple[FastAPI, httpx.AsyncClient], kept: tuple[list[Any], list[Any]]
) -> None:
    """The line's index among the lines that are not blank, as the lines' decoder counts them (a blank line before
    it once hid a NaN from the shared check, and the decoder answered a 400 naming nothing)."""
    app, client = app_client
    for token in [*NON_FINITE, b'"many"', b"-1"]:
        lines = b"\n".join([json.dumps(row()).encode(), b"", written(row(good=MARK), token), b""])
        assert named(await client.post("/v1/measurements", content=lines, headers=NDJSON)) == "[1].good", token
    assert await stored(app) == kept


async def test_a_ticket_event_s_field_is_named_one_way_whatever_is_wrong_with_it(
    app_client: tuple[FastAPI, httpx.AsyncClient], kept: tuple[list[Any], list[Any]]
) -> None:
    app, client = app_client
    events = [ticket_event(), ticket_event(id="e-2", paused=MARK)]
    for token in [*NON_FINITE, b'"sometimes"', b"[true]"]:
        answer = await client.post("/v1/tickets/events", content=written(events, token), headers=JSON)
        assert named(answer) == "[1].paused", token
    assert await stored(app) == kept


async def test_a_pydantic_route_of_the_same_service_keeps_its_dotted_names(
    app_client: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    """Only the routes declaring the brackets name fields so: a model's route names them as pydantic does."""
    _, client = app_client
    body = {"consumer": "events", "ids": [1, MARK]}
    for token in [*NON_FINITE, b'"x"']:
        answer = await client.post("/v1/dead-letters/replay", content=written(body, token), headers=JSON)
        assert named(answer) == "ids.1", token


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/outbox/requeue", {"type": "metric.\u0000"}, "type"),
        ("/v1/dead-letters/replay", {"consumer": "events\u0000"}, "consumer"),
        ("/v1/dead-letters/replay", {"event_type": "\u0000"}, "event_type"),
        ("/v1/dead-letters/replay", {"reason": "a\u0000"}, "reason"),
        ("/v1/datasources", {"name": "prom", "url": "http://127.0.0.1:10", "auth": {"bearer_token": "t\u0000"}},
         "auth.BearerAuth.bearer_token"),
        ("/v1/datasources", {"name": "prom", "url": "http://127.0.0.1:10",
                             "auth": {"username": "u", "password": "p\u0000"}}, "auth.BasicAuth.password"),
    ],
)  # fmt: skip
async def test_a_nul_in_a_filter_or_a_credential_is_refused_naming_it(
    app_client: tuple[FastAPI, httpx.AsyncClient], path: str, body: dict[str, Any], field: str
) -> None:
    """PostgreSQL's text cannot hold U+0000: these answered a 500 there (a filter compared with a column, a credential
    stored), and SQLite stored a data source's credential holding one."""
    _, client = app_client
    answer = await client.post(path, json=body)
    assert answer.status_code == 422 and answer.headers["content-type"].startswith(PROBLEM_JSON), answer.text
    assert field in {error["field"] for error in answer.json()["errors"]}, answer.text
    assert (await client.get("/v1/datasources")).json()["items"] == []


async def test_a_body_over_the_reparse_bound_is_refused_by_the_ingest_decoder(
    app_client: tuple[FastAPI, httpx.AsyncClient], kept: tuple[list[Any], list[Any]]
) -> None:
    """The shared body check parses a body a second time only up to REPARSE_MAX_BYTES (a `NaN` in a string makes any
    body suspect): over it, msgspec's decoding refuses a non-finite number itself (the literal `NaN` as malformed
    JSON, a 400; an overflowing number as out of range, a 422 naming the field); nothing is stored."""
    app, client = app_client
    rows = [row(scope=f"NaN-{index:06}") for index in range(REPARSE_MAX_BYTES // 100)] + [row(good=MARK)]
    last = f"[{len(rows) - 1}].good"
    for token, status in [(b"NaN", 400), (b"Infinity", 400), (b"1e400", 422)]:
        body = written(rows, token)
        assert len(body) > REPARSE_MAX_BYTES
        answer = await client.post("/v1/measurements", content=body, headers=JSON)
        assert answer.status_code == status, answer.text
        assert answer.headers["content-type"].startswith(PROBLEM_JSON), answer.headers
        assert named(answer, status) == (last if status == 422 else "body")
        lines = b"\n".join(written(one, token) for one in rows)
        answer = await client.post("/v1/measurements", content=lines, headers=NDJSON)
        assert named(answer, status) == (last if status == 422 else last.removesuffix(".good"))
    assert await stored(app) == kept


async def test_every_refusal_of_an_ndjson_line_names_it_as_its_422s_do(
    app_client: tuple[FastAPI, httpx.AsyncClient], kept: tuple[list[Any], list[Any]]
) -> None:
    """An NDJSON line is named `[k]` (`[k].field`), k zero-based among the lines that are not blank, whatever is wrong
    with it: its 400 for a line that is not JSON said "Line 4" (counting from 1, blank lines too) where its 422s said
    `[2]`. Blank lines here: empty, spaces and tabs, and a CRLF's."""
    app, client = app_client
    good = json.dumps(row()).encode()
    head = b"\n".join([good, b"", b" \t ", good + b"\r", b""])  # points [0] and [1], then the line at fault: [2]
    cases: list[tuple[bytes, int, str]] = [
        (b'{"service": "payments", "good": ', 400, "[2]"),  # not JSON
        (b"{'service': 'payments'}", 400, "[2]"),
        (b'{"service": "pay\xffments", ', 400, "[2]"),  # not UTF-8, and not JSON even so: not named further
        (written(row(service=MARK), b'"pay\xffments"'), 422, "[2].service"),  # not UTF-8, named by the body check
        (written(row(service=MARK), b'"\\ud800"'), 422, "[2].service"),  # a lone surrogate
        (written(row(good=MARK), b"NaN"), 422, "[2].good"),  # by the body check
        (written(row(good=MARK), b'"many"'), 422, "[2].good"),  # wrong type
        (json.dumps(row(service="p" * 65)).encode(), 422, "[2].service"),  # too long
        (json.dumps({k: v for k, v in row().items() if k != "timestamp"}).encode(), 422, "[2].timestamp"),
        (json.dumps(row(extra=1)).encode(), 422, "[2].extra"),
        (b"[1, 2]", 422, "[2]"),  # not an object
        (b'"payments"', 422, "[2]"),
        (written(row(good=MARK), b"[" * 5000 + b"]" * 5000), 422, "[2].good"),  # nested where a count is
        (b"[" * 5000 + b"]" * 5000, 422, "[2]"),
        (written(row(good=MARK), b"[" * 5000 + b"]" * 5000 + b', "x": NaN'), 422, "[2]"),  # too deep, body check
    ]
    for line, status, field in cases:
        body = head + b"\n" + line + b"\n" + good + b"\n"
        answer = await client.post("/v1/measurements", content=body, headers=NDJSON)
        assert named(answer, status) == field, line[:80]
        assert field in answer.json()["detail"] and "Line" not in answer.json()["detail"], answer.text
    too_deep = (await client.post("/v1/measurements", content=cases[-1][0], headers=NDJSON)).json()["errors"]
    assert too_deep == [{"field": "[0]", "message": "nested too deeply", "type": "too_deep"}]
    assert await stored(app) == kept


async def test_a_batch_nested_too_deeply_is_a_422_naming_its_field_or_the_body(
    app_client: tuple[FastAPI, httpx.AsyncClient], kept: tuple[list[Any], list[Any]]
) -> None:
    """A batch is decoded to its types: nesting where a point holds no object is refused naming that field. Too deep
    for the shared body check's parse (a body that may hold a number no field may take) is its 422 naming `body`
    (it said "nested deeper than 10000 levels"). A body that is not JSON is a 400 naming `body`."""
    app, client = app_client
    deep = b"[" * 5000 + b"]" * 5000
    assert named(await client.post("/v1/measurements", content=deep, headers=JSON)) == "[0]"
    assert named(await client.post("/v1/measurements", content=written([row(good=MARK)], deep), headers=JSON)) == (
        "[0].good"
    )
    assert named(await client.post("/v1/measurements", content=written(columns(good=MARK), deep), headers=JSON)) == (
        "series[0].good[0]"
    )
    for document in ([row(), row(good=MARK)], columns(good=MARK)):
        answer = await client.post("/v1/measurements", content=written(document, deep + b', "x": NaN'), headers=JSON)
        assert answer.status_code == 422, answer.text
        assert answer.json()["errors"] == [{"field": "body", "message": "nested too deeply", "type": "too_deep"}]
    assert named(await client.post("/v1/measurements", content=b'[{"service": ', headers=JSON), 400) == "body"
    assert await stored(app) == kept


async def test_ticket_events_too_deep_or_not_json_are_answered_as_every_route(
    app_client: tuple[FastAPI, httpx.AsyncClient], kept: tuple[list[Any], list[Any]]
) -> None:
    """Ticket events too deep for pydantic's parser (200 levels) were a 422 typed `json_invalid` ("recursion limit
    exceeded"), now `too_deep` naming `body` as the body check answers one holding a NaN; a body that is not JSON was
    a 422, now the 400 naming `body` every route answers."""
    app, client = app_client
    too_deep = [{"field": "body", "message": "nested too deeply", "type": "too_deep"}]
    deep = b"[" * 5000 + b"]" * 5000
    for nan in (b"", b', "x": NaN'):  # the route's decoding, the shared body check's
        answer = await client.post("/v1/tickets/events", content=written([ticket_event(service=MARK)], deep + nan))
        assert named(answer) == "body" and answer.json()["errors"] == too_deep, answer.text
    shallow = b"[" * 150 + b"]" * 150  # pydantic reads it: the field's own type is refused
    answer = await client.post("/v1/tickets/events", content=written([ticket_event(service=MARK)], shallow))
    assert named(answer) == "[0].service" and answer.json()["errors"][0]["type"] == "string_type", answer.text
    answer = await client.post("/v1/tickets/events", content=b'[{"id": "e-1"', headers=JSON)
    assert named(answer, 400) == "body" and answer.json()["errors"][0]["type"] == "json_invalid", answer.text
    assert await stored(app) == kept
