"""A request for change is raised once per action in ServiceNow and its status is followed until it closes."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from conftest import wait_until
from fakes import change_table, serving

from slm_notifier.itsm.changes import change_status
from slm_shared.contracts import EVENTS
from slm_shared.contracts.payloads import ChangeRequestedV1


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
