"""A configuration item's text holds no U+0000, as every other stored text: refused naming the field (it was stored,
and a list of services read it back cut or whole by database), on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import httpx
import pytest
from conftest import new_service

from slm_shared.errors import PROBLEM_JSON
from slm_shared.web.bounds import NOT_UTF8_REFUSED, NUL_REFUSED


@pytest.mark.parametrize("name", ["type", "external_id", "name", "source"])
async def test_a_nul_in_a_configuration_item_is_refused_naming_it(client: httpx.AsyncClient, name: str) -> None:
    kept = await new_service(client, "payments", configuration_items=[{"type": "server", "external_id": "srv-1"}])
    item = {"type": "server", "external_id": "srv-2", name: "a\u0000b"}
    items = [{"type": "database", "external_id": "db-1"}, item]
    created = await client.post("/v1/services", json={"key": "orders", "name": "Orders", "configuration_items": items})
    changed = await client.patch(f"/v1/services/{kept['id']}", json={"configuration_items": items})
    for answer in (created, changed):
        assert answer.status_code == 422 and answer.headers["content-type"].startswith(PROBLEM_JSON), answer.text
        [error] = answer.json()["errors"]
        assert error["field"] == f"configuration_items.1.{name}" and NUL_REFUSED in error["message"], answer.text
    listed = (await client.get("/v1/services")).json()["items"]
    assert [(s["key"], s["configuration_items"]) for s in listed] == [
        ("payments", [{"type": "server", "external_id": "srv-1", "name": None, "source": None}])
    ]


async def test_bytes_that_are_not_utf8_are_refused_naming_the_field(client: httpx.AsyncClient) -> None:
    """FastAPI answered a 400 naming nothing ("There was an error parsing the body")."""
    items = [{"type": "database", "external_id": "db-1"}, {"type": "server", "external_id": "@@"}]
    document = json.dumps({"key": "orders", "name": "Orders", "configuration_items": items}).encode()
    answer = await client.post(
        "/v1/services", content=document.replace(b"@@", b"srv-\xff"), headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 422 and answer.headers["content-type"].startswith(PROBLEM_JSON), answer.text
    [error] = answer.json()["errors"]
    assert error["field"] == "configuration_items.1.external_id" and error["message"] == NOT_UTF8_REFUSED, answer.text
    assert (await client.get("/v1/services")).json()["items"] == []


def openslo_service(name: str, description: object = "a service") -> dict[str, object]:
    return {
        "apiVersion": "openslo/v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {"description": description},
    }


@pytest.mark.parametrize("token", [b"NaN", b"-Infinity", b"1e400", b'"a\xff"', b"5"])
async def test_an_openslo_document_s_field_is_named_one_way_whatever_is_wrong_with_it(
    client: httpx.AsyncClient, token: bytes
) -> None:
    """`documents[1] $.spec.description`, as the apply names every refusal: a number that is not finite and bytes
    that are not UTF-8 are refused before the route runs, and were named `1.spec.description` (and in YAML
    `spec.description`, without its document), the bytes a 400 naming nothing."""
    json_type, yaml_type = {"Content-Type": "application/json"}, {"Content-Type": "application/yaml"}
    documents = json.dumps([openslo_service("pay"), openslo_service("ord", "@@")]).encode().replace(b'"@@"', token)
    answers = [await client.post("/v1/openslo", content=documents, headers=json_type)]
    if token in (b"NaN", b"-Infinity"):
        one = json.dumps(openslo_service("ord", "@@")).encode().replace(b'"@@"', token)
        answers.append(await client.post("/v1/openslo", content=one, headers=json_type))
        stream = json.dumps(openslo_service("pay")) + "\n---\n" + json.dumps(openslo_service("ord", "@@"))
        yaml_token = {b"NaN": ".nan", b"-Infinity": "-.inf"}[token]
        answers.append(await client.post("/v1/openslo", content=stream.replace('"@@"', yaml_token), headers=yaml_type))
    for answer, index in zip(answers, [1, 0, 1], strict=False):
        assert answer.status_code == 422 and answer.headers["content-type"].startswith(PROBLEM_JSON), answer.text
        assert {e["field"] for e in answer.json()["errors"]} == {f"documents[{index}] $.spec.description"}, answer.text
    assert (await client.get("/v1/services")).json()["items"] == []
