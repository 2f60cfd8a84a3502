"""Jira Service Management: a customer request on breach; on recovery a comment and a transition; a request for
change as an issue of the change issue type (`jira_changes`)."""

from __future__ import annotations

from typing import Any

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field

from slm_notifier.channels.base import AttemptOutcome, OutgoingMessage
from slm_notifier.channels.http import SafeHttp, attempt, outcome_for
from slm_notifier.itsm.changes import ChangeStore
from slm_notifier.itsm.jira_changes import SYSTEM as CHANGES
from slm_notifier.itsm.jira_changes import JiraChanges
from slm_notifier.itsm.tickets import RESOLVED, RESOLVING, TicketStore
from slm_shared.contracts import EVENTS

JSON_HEADERS = {"Accept": "application/json"}


class JiraTarget(BaseModel):
    model_config = ConfigDict(extra="forbid")

    base_url: AnyHttpUrl = Field(description="e.g. https://example.atlassian.net")
    email: str = Field(min_length=3, max_length=320)
    api_token: str = Field(min_length=1, max_length=500)
    service_desk_id: str = Field(min_length=1, max_length=40)
    request_type_id: str = Field(min_length=1, max_length=40)
    resolve_transition: str = Field("Resolve", min_length=1, max_length=80, description="transition name on recovery")
    project_key: str | None = Field(
        None, pattern=r"^[A-Z][A-Z0-9_]{0,19}$", description="the project requests for change are raised in"
    )
    change_issue_type: str = Field("Change", min_length=1, max_length=80, description="the issue type of a change")
    change_priorities: bool = Field(True, description="set the change's priority (High, Medium, Low)")


def request_body(message: OutgoingMessage, target: JiraTarget) -> dict[str, Any]:
    """The create-request body of the Service Desk API."""
    assert message.content is not None
    return {
        "serviceDeskId": target.service_desk_id,
        "requestTypeId": target.request_type_id,
        "requestFieldValues": {"summary": message.content.subject[:250], "description": message.content.text},
    }


class JiraChannel:
    name = "jira"
    target_model: type[BaseModel] = JiraTarget
    needs_content = True

    def __init__(self, http: SafeHttp, tickets: TicketStore) -> None:
        self.http = http
        self.tickets = tickets
        self.changes = JiraChanges(http, ChangeStore(tickets.db, CHANGES))

    async def send(self, message: OutgoingMessage) -> AttemptOutcome:
        """Create, comment on or resolve the request the event's correlation key belongs to."""
        return await attempt(self.http.timeout_seconds, lambda: self._send(message))

    async def _send(self, message: OutgoingMessage) -> AttemptOutcome:
        target = JiraTarget.model_validate(message.target)
        api = f"{str(target.base_url).rstrip('/')}/rest/servicedeskapi"
        auth = (target.email, target.api_token)
        if message.event_type == EVENTS.change_requested.type:
            return await self.changes.raise_change(message, target)
        if message.verb == "breached":
            return await self._open(message, target, api, auth)
        if message.verb == "recovered":
            return await self._resolve(message, target, api, auth)
        answer = await self.http.request(
            "GET", f"{api}/servicedesk/{target.service_desk_id}", headers=JSON_HEADERS, auth=auth
        )
        return outcome_for(answer, what="Jira")

    async def _comment(self, api: str, issue: str, text: str, auth: tuple[str, str]) -> Any:
        body = {"body": text, "public": True}
        return await self.http.request(
            "POST", f"{api}/request/{issue}/comment", json_body=body, headers=JSON_HEADERS, auth=auth
        )

    async def _open(
        self, message: OutgoingMessage, target: JiraTarget, api: str, auth: tuple[str, str]
    ) -> AttemptOutcome:
        assert message.content is not None
        known = await self.tickets.open_ticket(subscription_id=message.subscription_id, key=message.correlation_key)
        if known is not None:
            answer = await self._comment(api, known.external_id, message.content.text, auth)
            return outcome_for(answer, what="Jira")
        answer = await self.http.request(
            "POST",
            f"{api}/request",
            json_body=request_body(message, target),
            headers=JSON_HEADERS,
            auth=auth,
            max_body=65_536,
        )
        created = answer.json() if 200 <= answer.status_code < 300 else None
        if isinstance(created, dict) and created.get("issueKey"):
            await self.tickets.opened(
                tenant=message.tenant,
                subscription_id=message.subscription_id,
                system=self.name,
                key=message.correlation_key,
                external_id=str(created["issueKey"]),
                external_key=str(created.get("issueId") or "") or None,
            )
        return outcome_for(answer, what="Jira")

    async def _resolve(
        self, message: OutgoingMessage, target: JiraTarget, api: str, auth: tuple[str, str]
    ) -> AttemptOutcome:
        assert message.content is not None
        known = await self.tickets.open_ticket(subscription_id=message.subscription_id, key=message.correlation_key)
        if known is None:
            return AttemptOutcome(succeeded=True, error="no open request for this objective; nothing to resolve")
        issue = known.external_id
        if known.state != RESOLVING:  # a retry after the comment went through does not comment twice
            answer = await self._comment(api, issue, message.content.text, auth)
            if not 200 <= answer.status_code < 300:
                return outcome_for(answer, what="Jira")
            await self.tickets.mark(known.id, RESOLVING)
        listed = await self.http.request(
            "GET", f"{api}/request/{issue}/transition", headers=JSON_HEADERS, auth=auth, max_body=65_536
        )
        if listed.status_code != 200:
            return outcome_for(listed, what="Jira")
        values = (listed.json() or {}).get("values") or []
        wanted = target.resolve_transition.casefold()
        match = next((t for t in values if str(t.get("name", "")).casefold() == wanted), None)
        if match is None:
            names = ", ".join(str(t.get("name")) for t in values) or "none"
            return AttemptOutcome(
                succeeded=False, error=f"{issue} has no transition {target.resolve_transition!r} (has: {names})"
            )
        answer = await self.http.request(
            "POST",
            f"{api}/request/{issue}/transition",
            json_body={"id": str(match["id"])},
            headers=JSON_HEADERS,
            auth=auth,
        )
        if 200 <= answer.status_code < 300:
            await self.tickets.mark(known.id, RESOLVED)
        return outcome_for(answer, what="Jira")

    async def close(self) -> None:
        """The shared HTTP client is closed by its owner."""
