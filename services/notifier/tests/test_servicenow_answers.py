"""A ServiceNow answer of the wrong shape (no `result`, a record without `sys_id`, not JSON) is a recorded failure
retried with backoff: never a crash, never taken for "none found" nor for a record created."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import wait_until
from fakes import change_table, servicenow, serving
from test_channels import SN_TARGET, message

from slm_notifier.channels import SafeHttp, TicketStore
from slm_notifier.itsm.servicenow import ServiceNowChannel
from slm_shared.contracts import EVENTS
from slm_shared.contracts.payloads import ChangeRequestedV1

WRONG_QUERIES: list[Any] = [{}, {"result": [{"number": "INC0000001"}]}, {"result": {"sys_id": "x"}}, [], b"<html>"]
WRONG_CREATES: list[Any] = [{}, {"result": {"number": "INC0000001"}}, {"result": []}, "created", b"<html>login"]


async def test_an_incident_query_of_the_wrong_shape_fails_and_creates_nothing(
    http: SafeHttp, tickets: TicketStore
) -> None:
    async with serving(servicenow()) as fake:
        channel = ServiceNowChannel(http, tickets)
        target = {**SN_TARGET, "instance_url": fake.url}
        fake.state["query_answers"] = list(WRONG_QUERIES)
        outcomes = [await channel.send(message(target=target)) for _ in WRONG_QUERIES]
        succeeded = await channel.send(message(target=target))  # a query of the right shape: none, so created
    await http.close()
    assert [(o.succeeded, o.permanent, o.status_code) for o in outcomes] == [(False, False, 200)] * len(outcomes)
    assert all("ServiceNow's incident query answered HTTP 200 with" in str(o.error) for o in outcomes), outcomes
    assert "<html>" in str(outcomes[-1].error)
    assert succeeded.succeeded
    assert [r.method for r in fake.requests if r.method != "GET"] == ["POST"]


@pytest.mark.parametrize("wrong", WRONG_CREATES, ids=["no-result", "no-sys_id", "list", "string", "not-json"])
async def test_an_incident_create_of_the_wrong_shape_fails_and_the_retry_finds_the_incident(
    http: SafeHttp, tickets: TicketStore, wrong: Any
) -> None:
    async with serving(servicenow()) as fake:
        channel = ServiceNowChannel(http, tickets)
        target = {**SN_TARGET, "instance_url": fake.url}
        fake.state["create_answers"] = [wrong]
        failed = await channel.send(message(target=target))
        assert await tickets.open_ticket(subscription_id="sub-1", key="agr-1:obj-1") is None  # nothing remembered
        retried = await channel.send(message(target=target, delivery_id="dlv-retry"))
    await http.close()
    assert (failed.succeeded, failed.permanent, failed.status_code) == (False, False, 201)
    assert "ServiceNow's incident create answered HTTP 201 with" in str(failed.error)
    assert retried.succeeded
    (incident,) = fake.state["incidents"].values()  # created once: the retry found it by its correlation_id
    assert [r.path for r in fake.requests if r.method == "PATCH"] == [f"/api/now/table/incident/{incident['sys_id']}"]
    known = await tickets.open_ticket(subscription_id="sub-1", key="agr-1:obj-1")
    assert known is not None and known.external_id == incident["sys_id"]


async def _only_delivery(client: Any) -> dict[str, Any]:
    async def ended() -> bool:
        items = (await client.get("/v1/deliveries", params={"limit": 10})).json()["items"]
        return len(items) == 1 and items[0]["status"] in ("succeeded", "failed", "dead")

    await wait_until(ended, timeout=30)
    (item,) = (await client.get("/v1/deliveries", params={"limit": 10})).json()["items"]
    return dict((await client.get(f"/v1/deliveries/{item['id']}")).json())


async def test_change_answers_of_the_wrong_shape_are_recorded_failures_retried_until_the_change_is_raised_once(
    make_client: Any, publish: Any, tenant: str
) -> None:
    requested = ChangeRequestedV1(
        change_request_id="cr-7", action_id="act-7", agreement_id="agr-1", service_id="svc-1",
        service_key="payments", summary="Add a second card gateway", description="Two gateways", priority="high",
        requested_by="sam",
    )  # fmt: skip
    async with serving(change_table()) as fake, make_client(max_attempts=8) as client:
        created = await client.post(
            "/v1/subscriptions",
            json={"name": "changes", "channel": "servicenow", "event_types": [EVENTS.change_requested.type],
                  "target": {"instance_url": fake.url, "username": "svc", "password": "pw"}},
        )  # fmt: skip
        assert created.status_code == 201, created.text
        fake.state["query_answers"] = [{}, {"result": [{"number": "CHG0000009"}]}, b"<html>maintenance</html>"]
        fake.state["create_answers"] = [{"result": {"number": "CHG0000001"}}]  # created, but no sys_id in the answer
        await publish(EVENTS.change_requested.build(tenant=tenant, data=requested))

        delivery = await _only_delivery(client)
        attempts = delivery["attempts"]
        assert [a["succeeded"] for a in attempts] == [False, False, False, False, True], attempts
        assert all("ServiceNow's change query answered HTTP 200 with" in a["error"] for a in attempts[:3])
        assert "ServiceNow's change create answered HTTP 201 with" in attempts[3]["error"]
        assert all(a["next_attempt_at"] is not None for a in attempts[:4])  # retried, not given up
        (record,) = fake.state["records"].values()  # created once; the fifth attempt found it by its correlation_id
        assert [r.method for r in fake.requests if r.method == "POST"] == ["POST"]

        async def told() -> bool:
            page = (await client.get("/v1/outbox", params={"type": EVENTS.change_status_changed.type})).json()
            return [json.loads(row["body"])["external_ref"] for row in page["items"]] == [record["number"]]

        await wait_until(told, timeout=20)
