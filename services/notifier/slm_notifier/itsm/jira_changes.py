"""Requests for change in Jira Service Management: one issue of the change issue type per action, found again
by its label (so a retry creates none), then followed by reading its status until it is done."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from slm_notifier.channels.base import AttemptOutcome, OutgoingMessage
from slm_notifier.channels.http import HttpAnswer, SafeHttp, outcome_for
from slm_shared.contracts.payloads import ChangeRequestedV1
from slm_shared.db import utcnow

if TYPE_CHECKING:
    from slm_notifier.itsm.changes import ChangeStore
    from slm_notifier.itsm.jira import JiraTarget

SYSTEM = "jira"
JSON_HEADERS = {"Accept": "application/json"}
PRIORITY = {"high": "High", "medium": "Medium", "low": "Low"}

# Status names of Jira Service Management's change workflows, as the platform names them; any other status is
# read from its category (to do, in progress, done).
_NAMES = {
    "open": "new", "to do": "new", "new": "new",
    "planning": "assessing", "awaiting approval": "assessing", "under review": "assessing",
    "awaiting cab approval": "assessing", "authorize": "assessing",
    "awaiting implementation": "scheduled", "scheduled": "scheduled",
    "implementing": "implementing", "in progress": "implementing",
    "peer review": "reviewing", "review": "reviewing",
    "completed": "closed", "closed": "closed", "done": "closed", "resolved": "closed",
    "canceled": "cancelled", "cancelled": "cancelled", "declined": "cancelled", "rejected": "cancelled",
    "failed": "failed",
}  # fmt: skip
_CATEGORIES = {"new": "new", "indeterminate": "implementing", "done": "closed"}

# Jira's search is read from an index that follows writes by a moment: an issue created by an attempt whose answer
# was lost is not created again until its create was sent this long ago (so the search could show it by its label).
SEARCH_SETTLE = timedelta(seconds=30)
SEARCH_JQL = "/rest/api/3/search/jql"  # Jira Cloud's search (the older /rest/api/2/search is removed there)
LEGACY_SEARCH = "/rest/api/2/search"  # Jira Data Center's, which has no /search/jql
SEARCH_PAGES = 5


def label(action_id: str) -> str:
    """The label that marks an action's change issue (Jira labels hold no spaces; at most 255 characters)."""
    return f"slm-change-{action_id}"[:255]


def change_status(status: object) -> str | None:
    """The platform's status for a Jira issue status (its `fields.status` object); None when unknown."""
    if not isinstance(status, dict):
        return None
    named = _NAMES.get(str(status.get("name", "")).strip().casefold())
    if named is not None:
        return named
    category = status.get("statusCategory") or {}
    return _CATEGORIES.get(str(category.get("key", "")).strip().lower()) if isinstance(category, dict) else None


def issue_body(data: ChangeRequestedV1, target: JiraTarget) -> dict[str, Any]:
    """The create-issue body of the Jira REST API (v2: a plain-text description)."""
    fields: dict[str, Any] = {
        "project": {"key": target.project_key},
        "issuetype": {"name": target.change_issue_type},
        "summary": data.summary[:250],
        "description": data.description or data.summary,
        "labels": [label(data.action_id)],
    }
    if target.change_priorities:
        fields["priority"] = {"name": PRIORITY.get(data.priority, "Medium")}
    return {"fields": fields}


def _api(target: JiraTarget) -> str:
    return f"{str(target.base_url).rstrip('/')}/rest/api/2"


class JiraChanges:
    """Raises an action's change as a Jira issue once per action and subscription."""

    def __init__(self, http: SafeHttp, store: ChangeStore) -> None:
        self.http = http
        self.store = store

    async def raise_change(self, message: OutgoingMessage, target: JiraTarget) -> AttemptOutcome:
        """Known here, else found by its label, else created; its first status is told."""
        data = ChangeRequestedV1.model_validate(message.payload)
        if not target.project_key:  # a subscription older than the check that refuses it: no retry can help
            return AttemptOutcome(succeeded=False, error=NO_PROJECT, permanent=True)
        claim = await self.store.claim(
            tenant=message.tenant, subscription_id=message.subscription_id, data=data, attempt=message.delivery_id
        )
        if claim.outcome == "done":
            return AttemptOutcome(succeeded=True, error="the change for this action is already raised")
        if claim.outcome == "busy" or claim.ticket_id is None:
            return AttemptOutcome(succeeded=False, error="another attempt is raising this action's change")
        auth = (target.email, target.api_token)
        jql = f'project = "{target.project_key}" AND labels = "{label(data.action_id)}" ORDER BY created ASC'
        searched = await self._search(target, jql, auth)
        if isinstance(searched, AttemptOutcome):
            return searched
        found, issues = searched
        answer, issue = found, issues[0] if issues else None
        if issue is None:
            now = utcnow()
            if claim.sent_at is not None and now - claim.sent_at < SEARCH_SETTLE:
                ago, wait = (now - claim.sent_at).total_seconds(), (claim.sent_at + SEARCH_SETTLE - now).total_seconds()
                return AttemptOutcome(
                    succeeded=False,
                    error=f"an earlier attempt sent this change's issue to Jira {ago:.0f}s ago and its answer was lost;"
                    f" Jira's search does not show it yet, so none is created for {wait:.0f}s more",
                    retry_after_seconds=wait,
                )
            await self.store.sending(claim.ticket_id, data=data, attempt=message.delivery_id, at=now)
            answer = await self.http.request(
                "POST",
                f"{_api(target)}/issue",
                json_body=issue_body(data, target),
                headers=JSON_HEADERS,
                auth=auth,
                max_body=65_536,
            )
            if not 200 <= answer.status_code < 300:
                return outcome_for(answer, what="Jira")
            issue = answer.json()
            if not _is_issue(issue):  # it may exist all the same: the retry finds it by its label
                return _unexpected(answer, "create", "an object with the new issue's id and key")
        assert isinstance(issue, dict)
        fields = issue.get("fields")
        status = fields.get("status") if isinstance(fields, dict) else None
        await self.store.raised(
            claim.ticket_id,
            tenant=message.tenant,
            data=data,
            external_id=str(issue["id"]),
            number=str(issue["key"]),
            state=status.get("name") if isinstance(status, dict) else None,
            status=change_status(status) or "new",
        )
        return outcome_for(answer, what="Jira")

    async def _search(
        self, target: JiraTarget, jql: str, auth: tuple[str, str]
    ) -> tuple[HttpAnswer, list[dict[str, Any]]] | AttemptOutcome:
        """The first issue the JQL finds (at most one), through Jira Cloud's enhanced search, or why not.

        `GET /rest/api/3/search/jql` returns only ids unless fields are asked for, and pages by `nextPageToken`;
        a page with no issue but a token is followed (up to `SEARCH_PAGES`). A Jira without it (404: Data Center)
        is searched through the older `GET /rest/api/2/search`, which Jira Cloud has removed."""
        params = {"jql": jql, "fields": "status", "maxResults": "1"}
        base = str(target.base_url).rstrip("/")
        found = await self.http.request(
            "GET", f"{base}{SEARCH_JQL}", params=params, headers=JSON_HEADERS, auth=auth, max_body=262_144
        )
        if found.status_code == 404:
            found = await self.http.request(
                "GET", f"{base}{LEGACY_SEARCH}", params=params, headers=JSON_HEADERS, auth=auth, max_body=262_144
            )
        for _ in range(SEARCH_PAGES):
            if found.status_code != 200:
                return outcome_for(found, what="Jira")
            page = found.json()
            issues = page.get("issues") if isinstance(page, dict) else None
            if not isinstance(issues, list) or not all(_is_issue(issue) for issue in issues):
                return _unexpected(found, "search", "an object whose issues are a list of issues")
            token = page.get("nextPageToken") if isinstance(page, dict) else None
            if issues or not token or page.get("isLast") is True:
                return found, issues[:1]
            found = await self.http.request(
                "GET",
                f"{base}{SEARCH_JQL}",
                params={**params, "nextPageToken": str(token)},
                headers=JSON_HEADERS,
                auth=auth,
                max_body=262_144,
            )
        return AttemptOutcome(
            succeeded=False, error=f"Jira's search answered {SEARCH_PAGES} pages without an issue or an end"
        )


NO_PROJECT = (
    "the subscription needs target.project_key (the Jira project its change issues are created in) to raise "
    "requests for change; set it with PATCH /v1/subscriptions/{id} and replay the delivery"
)


def _is_issue(value: object) -> bool:
    """An issue as Jira's search and create answer it: an object with an id and a key."""
    return isinstance(value, dict) and bool(value.get("id")) and bool(value.get("key"))


def _unexpected(answer: HttpAnswer, what: str, expected: str) -> AttemptOutcome:
    """A 2xx answer of a shape Jira does not give: a failure retried with the normal backoff."""
    body = answer.snippet[:200] or "an empty body"
    return AttemptOutcome(
        succeeded=False,
        status_code=answer.status_code,
        error=f"Jira's {what} answered HTTP {answer.status_code} with {body!s}, not {expected}",
    )


async def read_status(http: SafeHttp, target: dict[str, Any], issue_id: str) -> tuple[HttpAnswer, dict[str, Any]]:
    """Read an issue's status: the answer, and a record (id, key, the status's name) the change store keeps."""
    base = f"{str(target.get('base_url', '')).rstrip('/')}/rest/api/2"
    answer = await http.request(
        "GET",
        f"{base}/issue/{quote(issue_id, safe='')}",
        params={"fields": "status"},
        headers=JSON_HEADERS,
        auth=(str(target.get("email", "")), str(target.get("api_token", ""))),
        max_body=65_536,
    )
    if answer.status_code != 200:
        return answer, {}
    issue = answer.json()
    issue = issue if isinstance(issue, dict) else {}
    fields = issue.get("fields")
    status = (fields.get("status") if isinstance(fields, dict) else None) or {}
    return answer, {
        "sys_id": str(issue.get("id") or issue_id),
        "number": issue.get("key"),
        "state": status.get("name") if isinstance(status, dict) else None,
        "status": change_status(status),
    }
