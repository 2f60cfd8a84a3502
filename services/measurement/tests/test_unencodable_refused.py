"""Text no UTF-8 can encode (a lone surrogate, `"\\ud800"`, or bytes that are not UTF-8) is refused naming its field.

msgspec (points) and pydantic's JSON parser (ticket events) refuse such a body as a whole, naming a byte offset: the
points were answered a 400 naming nothing (a 500 for bytes that are not UTF-8), the ticket events a 422 naming ''.
Neither database can keep such text. Over REST and NATS, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from ingest_dead_letters import Batch, dead_lettered
from test_nul_refused import row, series, stored, ticket_event

from slm_shared.errors import PROBLEM_JSON
from slm_shared.testing.nats_server import NatsServer
from slm_shared.web.bounds import NOT_UTF8_REFUSED, SURROGATE_REFUSED
from slm_shared.web.json_guard import FIELD_MAX_CHARS, UNENCODABLE_MAX_BYTES, UNENCODABLE_MAX_DEPTH

MARK = "@@unencodable@@"
# how each kind of unencodable text is written into a body: a JSON escape of a lone surrogate, or a byte no UTF-8 has
KINDS = {
    "escaped lone surrogate": (b"\\udc00", SURROGATE_REFUSED),
    "bytes not UTF-8": (b"\xed\xa0\x80", NOT_UTF8_REFUSED),
}


def body(document: Any, kind: str) -> bytes:
    """`document` as JSON, its MARK written as `kind` of unencodable text."""
    return json.dumps(document).encode().replace(MARK.encode(), KINDS[kind][0])


def ndjson(documents: list[Any], kind: str) -> bytes:
    return b"\n".join(body(document, kind) for document in documents)


def refused_naming(response: httpx.Response, field: str, reason: str) -> None:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    (error,) = response.json()["errors"]
    assert error["field"] == field and error["message"] == reason, error
    assert field in response.json()["detail"] or response.json()["detail"].startswith("The ticket events")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", ["service", "indicator", "scope"])
async def test_unencodable_text_in_a_measurement_name_is_refused_naming_it(
    app_client: tuple[FastAPI, httpx.AsyncClient], name: str, kind: str
) -> None:
    app, client = app_client
    reason = KINDS[kind][1]
    json_type = {"Content-Type": "application/json"}
    rows = await client.post(
        "/v1/measurements", content=body([row(), row(**{name: f"pay{MARK}"})], kind), headers=json_type
    )
    refused_naming(rows, f"[1].{name}", reason)
    columnar = await client.post("/v1/measurements", content=body(series(**{name: MARK}), kind), headers=json_type)
    refused_naming(columnar, f"series[0].{name}", reason)
    lines = await client.post(
        "/v1/measurements",
        content=ndjson([row(), row(**{name: MARK})], kind),
        headers={"Content-Type": "application/x-ndjson"},
    )
    refused_naming(lines, f"[1].{name}", reason)
    assert await stored(app) == (0, 0)
    assert (await client.post("/v1/measurements", json=[row()])).status_code == 202  # the store itself is fine


async def test_a_lone_surrogate_in_a_field_name_or_beside_a_bad_line_is_refused_naming_where(
    app_client: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, client = app_client
    named = await client.post("/v1/measurements", content=body([row(), {**row(), MARK: 1}], "escaped lone surrogate"))
    refused_naming(named, "[1]", f"a field name {SURROGATE_REFUSED}")
    nested = {"series": [series()["series"][0], {**series()["series"][0], "timestamps": [MARK]}]}
    refused_naming(
        await client.post("/v1/measurements", content=body(nested, "escaped lone surrogate")),
        "series[1].timestamps[0]",
        SURROGATE_REFUSED,
    )
    malformed = body([row(service=MARK)], "escaped lone surrogate")[:-1]  # not JSON even so: the decoder's own answer
    answer = await client.post("/v1/measurements", content=malformed)
    assert answer.status_code == 400 and answer.headers["content-type"].startswith(PROBLEM_JSON), answer.text
    assert answer.json()["detail"].startswith("The body is not valid JSON")
    assert await stored(app) == (0, 0)


async def test_a_surrogate_pair_is_one_character_and_stored(app_client: tuple[FastAPI, httpx.AsyncClient]) -> None:
    """Only a lone surrogate is refused: a pair (escaped or as UTF-8) is a character like any other."""
    app, client = app_client
    escaped = await client.post("/v1/measurements", content=json.dumps([row(scope="eu-\U0001f600")]).encode())
    assert escaped.status_code == 202, escaped.text
    raw = json.dumps([row(scope="eu-\U0001f600", good=8)], ensure_ascii=False).encode()
    assert (await client.post("/v1/measurements", content=raw)).status_code == 202
    assert (await stored(app))[0] == 1  # one series, one minute


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", ["id", "ticket_id", "service"])
async def test_unencodable_text_in_a_ticket_event_is_refused_naming_it(
    app_client: tuple[FastAPI, httpx.AsyncClient], name: str, kind: str
) -> None:
    app, client = app_client
    events = body([ticket_event(id="e-0"), ticket_event(**{name: MARK})], kind)
    refused = await client.post("/v1/tickets/events", content=events, headers={"Content-Type": "application/json"})
    refused_naming(refused, f"[1].{name}", KINDS[kind][1])
    assert await stored(app) == (0, 0)


async def test_a_nats_batch_holding_unencodable_text_is_dead_lettered_at_once_naming_the_field(
    database_url: str, private_nats: NatsServer
) -> None:
    """As any other refused batch: a dead letter on its first delivery, with the field and the reason."""
    escaped = body(series(indicator=f"avail{MARK}"), "escaped lone surrogate")
    raw = ndjson([row(), row(scope=MARK)], "bytes not UTF-8")
    events = body([ticket_event(ticket_id=f"T{MARK}")], "escaped lone surrogate")
    batches = [
        Batch("payments", "p-1", escaped),
        Batch("payments", "p-2", raw, content_type="application/x-ndjson"),
        Batch("tickets", "t-1", events),
    ]
    async with dead_lettered(database_url, private_nats.url, batches) as (app, found):
        assert await stored(app) == (0, 0)
    assert all(letter.deliveries == 1 and letter.error.startswith("422 ") for letter in found.values())
    assert "series[0].indicator" in found["p-1"].error and SURROGATE_REFUSED in found["p-1"].error
    assert "[1].scope" in found["p-2"].error and NOT_UTF8_REFUSED in found["p-2"].error
    assert "[0].ticket_id" in found["t-1"].error and SURROGATE_REFUSED in found["t-1"].error


async def test_a_name_given_twice_a_deep_document_or_a_large_one_is_answered_within_bounds(
    app_client: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    """The first of a name given twice is found though `json` keeps the last; a document of long names nested deep
    is answered with the field's name cut to FIELD_MAX_CHARS; one over UNENCODABLE_MAX_BYTES keeps the decoder's
    own answer (it is not read a second time)."""
    app, client = app_client
    twice = b'[{"service": "\\ud800", "service": "x", "indicator": "a", "timestamp": 1}]'
    refused_naming(await client.post("/v1/measurements", content=twice), "[0].service", SURROGATE_REFUSED)
    depth = UNENCODABLE_MAX_DEPTH - 1
    deep = "".join(f'{{"{level:03d}{"k" * 4000}": ' for level in range(depth)) + '"\\udc00"' + "}" * depth
    events = await client.post("/v1/tickets/events", content=f"[{deep}]".encode())
    assert events.status_code == 422, events.text
    (error,) = events.json()["errors"]
    assert len(error["field"]) == FIELD_MAX_CHARS and error["field"].startswith("[0].000kkk"), error
    assert error["message"] == SURROGATE_REFUSED
    large = json.dumps([row(scope="x" * 100) for _ in range(UNENCODABLE_MAX_BYTES // 100)] + [row(service=MARK)])
    answer = await client.post("/v1/measurements", content=large.replace(MARK, "\\ud800").encode())
    assert answer.status_code == 400 and answer.json()["detail"].startswith("The body is not valid JSON"), answer.text
    not_json = await client.post("/v1/tickets/events", content=b'[{"id": "e-1"')
    assert not_json.status_code == 400 and [e["field"] for e in not_json.json()["errors"]] == ["body"]
    assert await stored(app) == (0, 0)
