"""The Jira of the change tests: a fake of its issue API (create, search, read), a subscription raising changes
in it, and what the notifier told and delivered."""

from __future__ import annotations

import asyncio
import json
import re
import time
from typing import Any

from conftest import wait_until
from fakes import Fake, _basic, _recording
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse

from slm_shared.contracts import EVENTS
from slm_shared.contracts.payloads import ChangeRequestedV1

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


async def _told(client: Any) -> list[dict[str, Any]]:
    page = (await client.get("/v1/outbox", params={"type": EVENTS.change_status_changed.type, "limit": 50})).json()
    return [json.loads(row["body"]) for row in reversed(page["items"])]


def _requested(action_id: str) -> ChangeRequestedV1:
    return ChangeRequestedV1(
        change_request_id=f"cr-{action_id}", action_id=action_id, agreement_id="agr-1", service_id="svc-1",
        service_key="payments", summary="Restore availability of Payments",
        description="Objective Availability ≥ 99.900%: attainment 95.0000%", priority="high", requested_by="sam",
    )  # fmt: skip


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
