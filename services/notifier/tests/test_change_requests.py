"""A request for change is raised once per action in ServiceNow and its status is followed until it closes."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

from conftest import wait_until
from fakes import Fake, _basic, _recording, serving
from fastapi import FastAPI, HTTPException, Request

from slm_notifier.itsm.changes import change_status
from slm_shared.contracts import EVENTS
from slm_shared.contracts.payloads import ChangeRequestedV1


def change_table() -> Fake:
    """ServiceNow's Table API for change_request: create, query by correlation_id, read one."""
    fake = Fake(FastAPI())
    records: dict[str, dict[str, Any]] = {}
    fake.state["records"] = records
    _recording(fake)

    @fake.app.post("/api/now/table/change_request", status_code=201)
    async def create(request: Request) -> dict[str, Any]:
        _basic(request, "svc", "pw")
        sys_id = uuid.uuid4().hex
        records[sys_id] = {**(await request.json()), "sys_id": sys_id, "number": f"CHG{len(records) + 1:07d}",
                           "state": "-5"}  # fmt: skip
        return {"result": records[sys_id]}

    @fake.app.get("/api/now/table/change_request")
    async def query(request: Request, sysparm_query: str = "") -> dict[str, Any]:
        _basic(request, "svc", "pw")
        terms = dict(term.split("=", 1) for term in sysparm_query.split("^") if "=" in term)
        return {"result": [r for r in records.values() if all(r.get(k) == v for k, v in terms.items())][:1]}

    @fake.app.get("/api/now/table/change_request/{sys_id}")
    async def read(sys_id: str, request: Request) -> dict[str, Any]:
        _basic(request, "svc", "pw")
        if sys_id not in records:
            raise HTTPException(404)
        return {"result": records[sys_id]}

    return fake


def test_servicenow_change_states_are_named_as_the_platform_names_them() -> None:
    assert [change_status(s) for s in ("-5", "-4", "-3", "-2", "-1", "0", "3", "4", "Canceled", "9")] == [
        "new", "assessing", "assessing", "scheduled", "implementing", "reviewing", "closed", "cancelled",
        "cancelled", None]  # fmt: skip
    assert change_status("3", "unsuccessful") == "failed"


async def _told(client: Any) -> list[dict[str, Any]]:
    page = (await client.get("/v1/outbox", params={"type": EVENTS.change_status_changed.type, "limit": 50})).json()
    return [json.loads(row["body"]) for row in reversed(page["items"])]


async def test_a_change_is_created_once_per_action_and_each_status_it_reaches_is_told(
    make_client: Any, publish: Any, tenant: str
) -> None:
    requested = ChangeRequestedV1(
        change_request_id="cr-1", action_id="act-1", agreement_id="agr-1", service_id="svc-1",
        service_key="payments", summary="Add a second card gateway", description="Two gateways", priority="high",
        requested_by="sam",
    )  # fmt: skip
    async with serving(change_table()) as fake, make_client(change_poll_seconds=0.2) as client:
        created = await client.post(
            "/v1/subscriptions",
            json={"name": "changes", "channel": "servicenow", "event_types": [EVENTS.change_requested.type],
                  "target": {"instance_url": fake.url, "username": "svc", "password": "pw"}},
        )  # fmt: skip
        assert created.status_code == 201, created.text
        await publish(EVENTS.change_requested.build(tenant=tenant, data=requested))
        await publish(EVENTS.change_requested.build(tenant=tenant, data=requested))  # told twice (a replay)

        async def both_delivered() -> bool:
            page = (await client.get("/v1/deliveries", params={"limit": 10})).json()
            return [d["status"] for d in page["items"]] == ["succeeded", "succeeded"]

        await wait_until(both_delivered, timeout=20)
        (record,) = fake.state["records"].values()
        assert record["correlation_id"] == "slm:change:act-1" and record["priority"] == "2"
        assert record["short_description"] == "Add a second card gateway" and record["type"] == "normal"
        assert [r.method for r in fake.requests if r.method == "POST"] == ["POST"]

        async def told(*statuses: str) -> bool:
            return [e["status"] for e in await _told(client)] == list(statuses)

        await wait_until(lambda: told("new"), timeout=20)
        (first,) = await _told(client)
        assert (first["change_request_id"], first["action_id"], first["external_ref"], first["system"]) == (
            "cr-1", "act-1", "CHG0000001", "servicenow")  # fmt: skip
        record["state"] = "-2"
        await wait_until(lambda: told("new", "scheduled"), timeout=20)
        record["state"], record["close_code"] = "3", "successful"
        await wait_until(lambda: told("new", "scheduled", "closed"), timeout=20)
        polls = len([r for r in fake.requests if r.method == "GET" and r.path.endswith(record["sys_id"])])
        await asyncio.sleep(1)  # a closed change is not read again
        assert len([r for r in fake.requests if r.method == "GET" and r.path.endswith(record["sys_id"])]) == polls
