"""A request for change is raised once per action as a Jira issue of the change issue type, found again by its
label so a retry creates none, and followed by its status; PagerDuty, which has no change record, is refused."""

from __future__ import annotations

import asyncio
from typing import Any

from conftest import wait_until
from fakes import serving
from jira_support import _jira_subscription, _only_delivery, _requested, _target, _told, jira_issues
from sqlalchemy import select, update

from slm_notifier.itsm.jira_changes import change_status
from slm_notifier.models import Subscription
from slm_shared.contracts import EVENTS
from slm_shared.db import Database


def test_jira_statuses_are_named_by_workflow_status_else_by_category() -> None:
    def status(name: str, category: str) -> dict[str, Any]:
        return {"name": name, "statusCategory": {"key": category}}

    seen = [
        change_status(status("Open", "new")), change_status(status("Awaiting approval", "indeterminate")),
        change_status(status("Awaiting implementation", "indeterminate")),
        change_status(status("Implementing", "indeterminate")), change_status(status("Peer review", "indeterminate")),
        change_status(status("Completed", "done")), change_status(status("Canceled", "done")),
        change_status(status("Declined", "done")), change_status(status("Failed", "done")),
        change_status(status("Our own step", "indeterminate")), change_status(status("Shipped", "done")),
        change_status(status("Triage", "new")), change_status(status("Odd", "undefined")), change_status(None),
    ]  # fmt: skip
    assert seen == ["new", "assessing", "scheduled", "implementing", "reviewing", "closed", "cancelled", "cancelled",
                    "failed", "implementing", "closed", "new", None, None]  # fmt: skip


async def test_a_change_issue_is_created_once_per_action_and_its_status_is_followed(
    make_client: Any, publish: Any, tenant: str
) -> None:
    async with serving(jira_issues()) as fake, make_client(change_poll_seconds=0.2) as client:
        await _jira_subscription(client, fake)
        await publish(EVENTS.change_requested.build(tenant=tenant, data=_requested("act-1")))
        await publish(EVENTS.change_requested.build(tenant=tenant, data=_requested("act-1")))  # a replay

        async def delivered(count: int) -> bool:
            page = (await client.get("/v1/deliveries", params={"limit": 10})).json()
            return [d["status"] for d in page["items"]] == ["succeeded"] * count

        await wait_until(lambda: delivered(2), timeout=20)
        (issue,) = fake.state["issues"].values()
        fields = issue["fields"]
        assert fields["labels"] == ["slm-change-act-1"] and fields["priority"] == {"name": "High"}
        assert fields["summary"] == "Restore availability of Payments"
        assert fields["description"].startswith("Objective Availability")
        assert [r.path for r in fake.requests if r.method == "POST"] == ["/rest/api/2/issue"]  # created once

        async def told(action_id: str, *statuses: str) -> bool:
            return [e["status"] for e in await _told(client) if e["action_id"] == action_id] == list(statuses)

        await wait_until(lambda: told("act-1", "new"), timeout=20)
        (first,) = await _told(client)
        assert (first["system"], first["external_ref"], first["external_id"], first["change_request_id"]) == (
            "jira", "CHG-1", issue["id"], "cr-act-1")  # fmt: skip
        issue["fields"]["status"] = {"name": "Awaiting implementation", "statusCategory": {"key": "indeterminate"}}
        await wait_until(lambda: told("act-1", "new", "scheduled"), timeout=20)
        issue["fields"]["status"] = {"name": "Completed", "statusCategory": {"key": "done"}}
        await wait_until(lambda: told("act-1", "new", "scheduled", "closed"), timeout=20)
        reads = len([r for r in fake.requests if r.path == f"/rest/api/2/issue/{issue['id']}"])
        await asyncio.sleep(1)  # a closed change is not read again
        assert len([r for r in fake.requests if r.path == f"/rest/api/2/issue/{issue['id']}"]) == reads

        # An attempt whose answer was lost after Jira created the issue: the retry finds it by its label.
        fake.state["issues"]["20001"] = {
            "id": "20001", "key": "CHG-77",
            "fields": {"labels": ["slm-change-act-2"], "summary": "earlier", "status": {
                "name": "Implementing", "statusCategory": {"key": "indeterminate"}}},
        }  # fmt: skip
        await publish(EVENTS.change_requested.build(tenant=tenant, data=_requested("act-2")))
        await wait_until(lambda: told("act-2", "implementing"), timeout=20)
        assert [r.path for r in fake.requests if r.method == "POST"] == ["/rest/api/2/issue"]  # still one
        (second,) = [e for e in await _told(client) if e["action_id"] == "act-2"]
        assert (second["external_ref"], second["external_state"]) == ("CHG-77", "Implementing")


async def test_a_connection_that_cannot_raise_changes_is_refused_naming_the_field(client: Any) -> None:
    pagerduty = {"name": "pages", "channel": "pagerduty", "target": {"routing_key": "R0UTING"},
                 "event_types": ["slm.measurement.objective.*", EVENTS.change_requested.type]}  # fmt: skip
    refused = await client.post("/v1/subscriptions", json=pagerduty)
    assert refused.status_code == 422 and refused.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in refused.json()["errors"]] == ["event_types[1]"]
    assert "PagerDuty has no request for change" in refused.json()["errors"][0]["message"]
    wildcard = await client.post("/v1/subscriptions", json={**pagerduty, "event_types": ["slm.agreements.*"]})
    assert wildcard.status_code == 422 and wildcard.json()["errors"][0]["field"] == "event_types[0]"

    jira = {"name": "changes", "channel": "jira", "event_types": [EVENTS.change_requested.type],
            "target": {"base_url": "https://jira.example.com", "email": "ops@example.com", "api_token": "tok",
                       "service_desk_id": "4", "request_type_id": "12"}}  # fmt: skip
    no_project = await client.post("/v1/subscriptions", json=jira)
    assert no_project.status_code == 422 and no_project.json()["errors"][0]["field"] == "target.project_key"
    bad_project = await client.post(
        "/v1/subscriptions", json={**jira, "target": {**jira["target"], "project_key": "a b"}}
    )
    assert bad_project.status_code == 422 and bad_project.json()["errors"][0]["field"] == "target.project_key"
    assert (await client.get("/v1/subscriptions")).json()["total"] == 0  # nothing refused was stored

    paging = await client.post("/v1/subscriptions", json={**pagerduty, "event_types": ["slm.measurement.objective.*"]})
    assert paging.status_code == 201, paging.text
    widened = await client.patch(
        f"/v1/subscriptions/{paging.json()['id']}", json={"event_types": [EVENTS.change_requested.type]}
    )
    assert widened.status_code == 422 and widened.json()["errors"][0]["field"] == "event_types[0]"
    kept = (await client.get(f"/v1/subscriptions/{paging.json()['id']}")).json()
    assert kept["event_types"] == ["slm.measurement.objective.*"]


async def test_a_jira_subscription_older_than_the_project_key_check_fails_once_naming_the_field(
    make_client: Any, publish: Any, tenant: str, database_url: str
) -> None:
    async with serving(jira_issues()) as fake, make_client() as client:
        subscription_id = await _jira_subscription(client, fake)
        db = Database(database_url)  # as it was stored before subscriptions to changes had to name the project
        try:
            async with db.session() as session:
                row = (
                    await session.execute(select(Subscription).where(Subscription.id == subscription_id))
                ).scalar_one()
                target = {k: v for k, v in row.target.items() if k != "project_key"}
                await session.execute(
                    update(Subscription).where(Subscription.id == subscription_id).values(target=target)
                )
        finally:
            await db.dispose()
        await publish(EVENTS.change_requested.build(tenant=tenant, data=_requested("act-9")))

        delivery = await _only_delivery(client, "failed", "dead")
        assert (delivery["status"], delivery["attempt_count"]) == ("failed", 1)  # not retried
        assert "needs target.project_key" in delivery["last_error"]
        assert "needs target.project_key" in delivery["attempts"][0]["error"]
        assert [r for r in fake.requests if r.path.startswith("/rest/api/2/")] == []  # Jira was not asked

        target = _target(fake, project_key="CHG", change_issue_type="Change")
        patched = await client.patch(f"/v1/subscriptions/{subscription_id}", json={"target": target})
        assert patched.status_code == 200, patched.text
        replayed = await client.post(f"/v1/deliveries/{delivery['id']}/replay")
        assert replayed.status_code == 200, replayed.text
        await _only_delivery(client, "succeeded")
        (issue,) = fake.state["issues"].values()
        assert issue["fields"]["labels"] == ["slm-change-act-9"]


async def test_jira_cloud_is_searched_through_search_jql_asking_for_fields_and_following_its_page_token(
    make_client: Any, publish: Any, tenant: str
) -> None:
    async with serving(jira_issues()) as fake, make_client() as client:
        await _jira_subscription(client, fake)
        # raised before, by a delivery whose answer was lost
        fake.state["issues"]["10001"] = {
            "id": "10001",
            "key": "CHG-1",
            "indexed_at": 0.0,
            "fields": {"labels": ["slm-change-act-11"], "status": {"name": "Awaiting implementation"}},
        }
        fake.state["search_answers"] = [{"issues": [], "nextPageToken": "0", "isLast": False}]
        await publish(EVENTS.change_requested.build(tenant=tenant, data=_requested("act-11")))

        delivery = await _only_delivery(client, "succeeded", "dead", "failed")
        assert [a["succeeded"] for a in delivery["attempts"]] == [True], delivery["attempts"]
        searches = [r for r in fake.requests if "search" in r.path]
        assert [r.path for r in searches] == ["/rest/api/3/search/jql"] * 2  # never the removed /rest/api/2/search
        assert [(r.query["fields"], r.query.get("nextPageToken")) for r in searches] == [
            ("status", None),
            ("status", "0"),
        ]
        assert searches[0].query["jql"] == 'project = "CHG" AND labels = "slm-change-act-11" ORDER BY created ASC'
        assert [r for r in fake.requests if r.method == "POST"] == []  # found on the second page: none created

        async def told() -> bool:
            return [(e["status"], e["external_ref"]) for e in await _told(client)] == [("scheduled", "CHG-1")]

        await wait_until(told, timeout=20)


async def test_a_jira_without_search_jql_is_searched_through_its_older_search(
    make_client: Any, publish: Any, tenant: str
) -> None:
    async with serving(jira_issues()) as fake, make_client() as client:
        await _jira_subscription(client, fake)
        fake.state["cloud"] = False  # Jira Data Center
        await publish(EVENTS.change_requested.build(tenant=tenant, data=_requested("act-12")))
        await publish(EVENTS.change_requested.build(tenant=tenant, data=_requested("act-12")))  # told twice

        async def both_delivered() -> bool:
            items = (await client.get("/v1/deliveries", params={"limit": 10})).json()["items"]
            return [d["status"] for d in items] == ["succeeded", "succeeded"]

        await wait_until(both_delivered, timeout=20)
        assert len(fake.state["issues"]) == 1
        assert "/rest/api/2/search" in [r.path for r in fake.requests]
