"""A request for change is raised once per action as a Jira issue of the change issue type, found again by its
label so a retry creates none, and followed by its status; PagerDuty, which has no change record, is refused."""

from __future__ import annotations

import asyncio
import json
import re
import time
from datetime import timedelta
from typing import Any

from conftest import wait_until
from fakes import Fake, _basic, _recording, serving
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select, update

from slm_notifier.itsm import jira_changes
from slm_notifier.itsm.jira_changes import change_status
from slm_notifier.models import Subscription
from slm_shared.contracts import EVENTS
from slm_shared.contracts.payloads import ChangeRequestedV1
from slm_shared.db import Database

OPEN = {"name": "Open", "statusCategory": {"key": "new"}}


def jira_issues() -> Fake:
    """The Jira REST API for issues: create, search by JQL (project and label), read one; basic auth. Bodies
    queued in `state["search_answers"]` / `state["create_answers"]` are answered (200) instead, one per request
    (a create still creates the issue)."""
    fake = Fake(FastAPI())
    issues: dict[str, dict[str, Any]] = {}
    fake.state["issues"] = issues
    fake.state["search_answers"] = []
    fake.state["create_answers"] = []
    fake.state["index_lag"] = 0.0  # seconds before a created issue shows in searches
    fake.state["create_delay"] = 0.0  # seconds a create waits (after creating) before it answers
    fake.state["cloud"] = True  # False: Jira Data Center (no /rest/api/3/search/jql, the older search instead)
    _recording(fake)

    @fake.app.post("/rest/api/2/issue", status_code=201)
    async def create(request: Request) -> Any:
        _basic(request, "ops@example.com", "tok")
        fields = (await request.json())["fields"]
        if fields["issuetype"] != {"name": "Change"} or fields["project"] != {"key": "CHG"}:
            raise HTTPException(400, "unknown project or issue type")
        issue_id = str(10001 + len(issues))
        key = f"CHG-{len(issues) + 1}"
        issues[issue_id] = {"id": issue_id, "key": key, "fields": {**fields, "status": dict(OPEN)},
                            "indexed_at": time.monotonic() + fake.state["index_lag"]}  # fmt: skip
        await asyncio.sleep(fake.state["create_delay"])
        if fake.state["create_answers"]:
            return JSONResponse(fake.state["create_answers"].pop(0))
        return {"id": issue_id, "key": key, "self": f"{fake.url}/rest/api/2/issue/{issue_id}"}

    def matching(jql: str) -> list[dict[str, Any]]:
        project = re.search(r'project = "([^"]+)"', jql)
        label = re.search(r'labels = "([^"]+)"', jql)
        return [
            i for i in issues.values()
            if project and label and i["key"].startswith(project.group(1) + "-")
            and label.group(1) in i["fields"].get("labels", []) and i.get("indexed_at", 0) <= time.monotonic()
        ]  # fmt: skip

    @fake.app.get("/rest/api/3/search/jql")
    async def search(
        request: Request, jql: str, fields: str = "id", maxResults: int = 50, nextPageToken: str = "0"
    ) -> Any:
        """Jira Cloud's enhanced search: only ids unless fields are asked for, pages by nextPageToken."""
        if not fake.state["cloud"]:
            raise HTTPException(404)
        _basic(request, "ops@example.com", "tok")
        if fake.state["search_answers"]:
            return JSONResponse(fake.state["search_answers"].pop(0))
        start = int(nextPageToken)
        found = matching(jql)[start : start + maxResults]
        wanted = [name for name in fields.split(",") if name in ("status", "labels")]
        page: dict[str, Any] = {
            "issues": [
                {"id": i["id"], **({"key": i["key"], "fields": {n: i["fields"][n] for n in wanted}} if wanted else {})}
                for i in found
            ],
            "isLast": start + maxResults >= len(matching(jql)),
        }
        if not page["isLast"]:
            page["nextPageToken"] = str(start + maxResults)
        return page

    @fake.app.get("/rest/api/2/search")
    async def legacy_search(request: Request, jql: str, maxResults: int = 50) -> Any:
        """Removed on Jira Cloud (410 Gone); Jira Data Center's search."""
        if fake.state["cloud"]:
            return JSONResponse({"errorMessages": ["The requested API has been removed."]}, status_code=410)
        _basic(request, "ops@example.com", "tok")
        found = [{"id": i["id"], "key": i["key"], "fields": {"status": i["fields"]["status"]}} for i in matching(jql)]
        return {"startAt": 0, "total": len(found), "issues": found[:maxResults]}

    @fake.app.get("/rest/api/2/issue/{issue_id}")
    async def read(issue_id: str, request: Request) -> dict[str, Any]:
        _basic(request, "ops@example.com", "tok")
        if issue_id not in issues:
            raise HTTPException(404)
        issue = issues[issue_id]
        return {"id": issue["id"], "key": issue["key"], "fields": {"status": issue["fields"]["status"]}}

    return fake


def _target(fake: Fake, **more: Any) -> dict[str, Any]:
    return {"base_url": fake.url, "email": "ops@example.com", "api_token": "tok", "service_desk_id": "4",
            "request_type_id": "12", **more}  # fmt: skip


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


async def _told(client: Any) -> list[dict[str, Any]]:
    page = (await client.get("/v1/outbox", params={"type": EVENTS.change_status_changed.type, "limit": 50})).json()
    return [json.loads(row["body"]) for row in reversed(page["items"])]


def _requested(action_id: str) -> ChangeRequestedV1:
    return ChangeRequestedV1(
        change_request_id=f"cr-{action_id}", action_id=action_id, agreement_id="agr-1", service_id="svc-1",
        service_key="payments", summary="Restore availability of Payments",
        description="Objective Availability ≥ 99.900%: attainment 95.0000%", priority="high", requested_by="sam",
    )  # fmt: skip


async def test_a_change_issue_is_created_once_per_action_and_its_status_is_followed(
    make_client: Any, publish: Any, tenant: str
) -> None:
    async with serving(jira_issues()) as fake, make_client(change_poll_seconds=0.2) as client:
        created = await client.post(
            "/v1/subscriptions",
            json={"name": "changes to Jira", "channel": "jira", "event_types": [EVENTS.change_requested.type],
                  "target": _target(fake, project_key="CHG", change_issue_type="Change")},
        )  # fmt: skip
        assert created.status_code == 201, created.text
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


async def _jira_subscription(client: Any, fake: Fake) -> str:
    created = await client.post(
        "/v1/subscriptions",
        json={"name": "changes to Jira", "channel": "jira", "event_types": [EVENTS.change_requested.type],
              "target": _target(fake, project_key="CHG", change_issue_type="Change")},
    )  # fmt: skip
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


async def _only_delivery(client: Any, *statuses: str) -> dict[str, Any]:
    async def ended() -> bool:
        items = (await client.get("/v1/deliveries", params={"limit": 10})).json()["items"]
        return len(items) == 1 and items[0]["status"] in statuses

    await wait_until(ended, timeout=20)
    (item,) = (await client.get("/v1/deliveries", params={"limit": 10})).json()["items"]
    return dict((await client.get(f"/v1/deliveries/{item['id']}")).json())


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


async def test_a_search_answer_that_is_no_object_is_a_recorded_failure_retried_with_backoff(
    make_client: Any, publish: Any, tenant: str
) -> None:
    async with serving(jira_issues()) as fake, make_client() as client:
        await _jira_subscription(client, fake)
        fake.state["search_answers"] = [[], "x", {"issues": "none"}]
        await publish(EVENTS.change_requested.build(tenant=tenant, data=_requested("act-3")))

        delivery = await _only_delivery(client, "succeeded", "dead", "failed")
        attempts = delivery["attempts"]
        assert [a["succeeded"] for a in attempts] == [False, False, False, True], attempts
        assert all("Jira's search answered HTTP 200 with" in a["error"] for a in attempts[:3])
        assert "[]" in attempts[0]["error"] and '"x"' in attempts[1]["error"]
        assert all(a["next_attempt_at"] is not None for a in attempts[:3])  # retried, not given up
        (issue,) = fake.state["issues"].values()  # the fourth attempt found none and created it, once
        assert issue["fields"]["labels"] == ["slm-change-act-3"]


async def test_a_create_answer_of_the_wrong_shape_fails_and_the_retry_finds_the_issue_by_its_label(
    make_client: Any, publish: Any, tenant: str
) -> None:
    async with serving(jira_issues()) as fake, make_client() as client:
        await _jira_subscription(client, fake)
        fake.state["create_answers"] = [{"created": True}]  # Jira created it, but the answer names no issue
        await publish(EVENTS.change_requested.build(tenant=tenant, data=_requested("act-4")))

        delivery = await _only_delivery(client, "succeeded", "dead", "failed")
        attempts = delivery["attempts"]
        assert [a["succeeded"] for a in attempts] == [False, True], attempts
        assert "Jira's create answered HTTP 200 with" in attempts[0]["error"]
        assert "id and key" in attempts[0]["error"]
        assert [r.path for r in fake.requests if r.method == "POST"] == ["/rest/api/2/issue"]  # created once

        async def told() -> bool:
            return [(e["status"], e["external_ref"]) for e in await _told(client)] == [("new", "CHG-1")]

        await wait_until(told, timeout=20)


async def test_a_create_whose_answer_is_lost_is_not_sent_again_before_jira_search_can_show_it(
    make_client: Any, publish: Any, tenant: str, monkeypatch: Any
) -> None:
    # Margins for a loaded machine: the retry (due ~1 s after the create) may come up to 4 s late and still
    # land inside the lag, and the lag ends well inside the settle, after which the search shows the issue.
    monkeypatch.setattr(jira_changes, "SEARCH_SETTLE", timedelta(seconds=8))
    async with serving(jira_issues()) as fake, make_client(attempt_timeout_seconds=1.0, max_attempts=10) as client:
        await _jira_subscription(client, fake)
        fake.state["index_lag"] = 5.0  # the issue shows in searches 5 s after it is created
        fake.state["create_delay"] = 2.0  # and the create's answer comes after the attempt gave up (1 s)
        await publish(EVENTS.change_requested.build(tenant=tenant, data=_requested("act-5")))

        delivery = await _only_delivery(client, "succeeded", "dead", "failed")
        attempts = delivery["attempts"]
        assert [a["succeeded"] for a in attempts][-1] is True, attempts
        assert "no response within 1s" in attempts[0]["error"]
        # Between the lost create and the success, each attempt found no issue yet and sent no create; on a loaded
        # machine one of them may itself outlast the 1 s attempt (its search unanswered in time).
        between = [a["error"] for a in attempts[1:-1] if "no response within 1s" not in a["error"]]
        assert between, attempts
        assert all("its answer was lost; Jira's search does not show it yet" in error for error in between), attempts
        assert [r.path for r in fake.requests if r.method == "POST"] == ["/rest/api/2/issue"]  # no duplicate
        assert len(fake.state["issues"]) == 1

        async def told() -> bool:
            return [(e["status"], e["external_ref"]) for e in await _told(client)] == [("new", "CHG-1")]

        await wait_until(told, timeout=20)


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
