"""ServiceNow: an incident through the Table API on breach; recovery resolves that same incident.

A 2xx answer of a shape the Table API does not give (no `result`, a record without `sys_id`, not JSON) is a
failure retried with the normal backoff, never taken for "none found" or for a record created: a create whose
answer names no record may have created it all the same, and the retry finds it by its correlation_id."""

from __future__ import annotations

import hashlib
from typing import Any

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field

from slm_notifier.channels.base import AttemptOutcome, OutgoingMessage
from slm_notifier.channels.http import HttpAnswer, SafeHttp, attempt, outcome_for
from slm_notifier.itsm import changes
from slm_notifier.itsm.changes import ChangeStore
from slm_notifier.itsm.tickets import RESOLVED, TicketRef, TicketStore
from slm_shared.contracts import EVENTS
from slm_shared.contracts.payloads import ChangeRequestedV1

RESOLVED_STATE = "6"
URGENCY = {"critical": "1", "warning": "2", "info": "3"}
JSON_HEADERS = {"Accept": "application/json"}


class ServiceNowTarget(BaseModel):
    model_config = ConfigDict(extra="forbid")

    instance_url: AnyHttpUrl = Field(description="e.g. https://example.service-now.com")
    username: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=1, max_length=500)
    table: str = Field("incident", pattern=r"^[a-z0-9_]+$", max_length=80)
    assignment_group: str | None = Field(None, max_length=200)
    caller_id: str | None = Field(None, max_length=200)
    category: str | None = Field(None, max_length=80)
    close_code: str = Field("Solved (Permanently)", max_length=80)
    change_table: str = Field(
        "change_request", pattern=r"^[a-z0-9_]+$", max_length=80, description="where requests for change go"
    )


def correlation_id(key: str) -> str:
    """The incident's correlation_id (at most 100 characters)."""
    value = f"slm:{key}"
    return value if len(value) <= 100 else "slm:" + hashlib.sha256(key.encode()).hexdigest()


def incident_body(message: OutgoingMessage, target: ServiceNowTarget) -> dict[str, Any]:
    """The incident's fields, from the rendered message."""
    assert message.content is not None
    severity = message.content.severity
    body: dict[str, Any] = {
        "short_description": message.content.subject[:160],
        "description": message.content.text,
        "correlation_id": correlation_id(message.correlation_key),
        "correlation_display": "SLM",
        "urgency": URGENCY.get(severity, "2"),
        "impact": URGENCY.get(severity, "2"),
    }
    for name in ("assignment_group", "caller_id", "category"):
        if getattr(target, name):
            body[name] = getattr(target, name)
    return body


def found_records(answer: HttpAnswer) -> list[dict[str, Any]] | None:
    """The records of a Table API query answer (`{"result": [...]}`), None when it is of another shape."""
    page = answer.json()
    records = page.get("result") if isinstance(page, dict) else None
    if not isinstance(records, list) or not all(isinstance(r, dict) and r.get("sys_id") for r in records):
        return None
    return records


def created_record(answer: HttpAnswer) -> dict[str, Any] | None:
    """The record of a Table API create answer (`{"result": {"sys_id": ...}}`), None when it is of another shape."""
    page = answer.json()
    record = page.get("result") if isinstance(page, dict) else None
    return record if isinstance(record, dict) and record.get("sys_id") else None


def unexpected(answer: HttpAnswer, what: str, expected: str) -> AttemptOutcome:
    """A 2xx answer of a shape ServiceNow does not give: a failure retried with the normal backoff."""
    body = answer.snippet[:200] or "an empty body"
    return AttemptOutcome(
        succeeded=False,
        status_code=answer.status_code,
        error=f"ServiceNow's {what} answered HTTP {answer.status_code} with {body!s}, not {expected}",
    )


QUERY_SHAPE = 'an object whose "result" is a list of records with a sys_id'
CREATE_SHAPE = 'an object whose "result" is the new record with its sys_id'


class ServiceNowChannel:
    name = "servicenow"
    target_model: type[BaseModel] = ServiceNowTarget
    needs_content = True

    def __init__(self, http: SafeHttp, tickets: TicketStore) -> None:
        self.http = http
        self.tickets = tickets
        self.changes = ChangeStore(tickets.db)

    async def send(self, message: OutgoingMessage) -> AttemptOutcome:
        """Open, note or resolve the incident the event's correlation key belongs to."""
        return await attempt(self.http.timeout_seconds, lambda: self._send(message))

    async def _send(self, message: OutgoingMessage) -> AttemptOutcome:
        target = ServiceNowTarget.model_validate(message.target)
        table = f"{str(target.instance_url).rstrip('/')}/api/now/table/{target.table}"
        auth = (target.username, target.password)
        if message.event_type == EVENTS.change_requested.type:
            return await self._raise_change(message, target, auth)
        if message.verb in ("breached", "at_risk"):
            return await self._open(message, target, table, auth)
        if message.verb == "recovered":
            return await self._resolve(message, target, table, auth)
        answer = await self.http.request("GET", table, params={"sysparm_limit": "1"}, headers=JSON_HEADERS, auth=auth)
        return outcome_for(answer, what="ServiceNow")

    async def _find(
        self, message: OutgoingMessage, table: str, auth: tuple[str, str]
    ) -> tuple[HttpAnswer, str | None] | AttemptOutcome:
        """Look the open incident up by correlation_id: the answer and its sys_id (if any), or why it failed."""
        query = f"correlation_id={correlation_id(message.correlation_key)}^active=true"
        answer = await self.http.request(
            "GET",
            table,
            params={"sysparm_query": query, "sysparm_fields": "sys_id,number", "sysparm_limit": "1"},
            headers=JSON_HEADERS,
            auth=auth,
            max_body=65_536,
        )
        if answer.status_code != 200:
            return outcome_for(answer, what="ServiceNow")
        found = found_records(answer)
        if found is None:
            return unexpected(answer, "incident query", QUERY_SHAPE)
        return answer, (str(found[0]["sys_id"]) if found else None)

    async def _open(
        self, message: OutgoingMessage, target: ServiceNowTarget, table: str, auth: tuple[str, str]
    ) -> AttemptOutcome:
        known = await self.tickets.open_ticket(subscription_id=message.subscription_id, key=message.correlation_key)
        sys_id = known.external_id if known else None
        if sys_id is None:
            looked = await self._find(message, table, auth)
            if isinstance(looked, AttemptOutcome):
                return looked
            sys_id = looked[1]
            if sys_id is not None:
                await self._remember(message, sys_id, None)
        assert message.content is not None
        if sys_id is not None:
            note = {"work_notes": f"{message.content.subject}\n\n{message.content.text}"}
            answer = await self.http.request(
                "PATCH", f"{table}/{sys_id}", json_body=note, headers=JSON_HEADERS, auth=auth
            )
            return outcome_for(answer, what="ServiceNow")
        answer = await self.http.request(
            "POST", table, json_body=incident_body(message, target), headers=JSON_HEADERS, auth=auth, max_body=65_536
        )
        if not 200 <= answer.status_code < 300:
            return outcome_for(answer, what="ServiceNow")
        record = created_record(answer)
        if record is None:  # it may exist all the same: the retry finds it by its correlation_id
            return unexpected(answer, "incident create", CREATE_SHAPE)
        number = record.get("number")
        await self._remember(message, str(record["sys_id"]), str(number) if number else None)
        return outcome_for(answer, what="ServiceNow")

    async def _resolve(
        self, message: OutgoingMessage, target: ServiceNowTarget, table: str, auth: tuple[str, str]
    ) -> AttemptOutcome:
        known: TicketRef | None = await self.tickets.open_ticket(
            subscription_id=message.subscription_id, key=message.correlation_key
        )
        sys_id = known.external_id if known else None
        if sys_id is None:
            looked = await self._find(message, table, auth)
            if isinstance(looked, AttemptOutcome):
                return looked
            answer, sys_id = looked
            if sys_id is None:
                return outcome_for(answer, what="ServiceNow")
        assert message.content is not None
        fields = {
            "state": RESOLVED_STATE,
            "close_code": target.close_code,
            "close_notes": f"{message.content.subject}\n\n{message.content.text}",
        }
        answer = await self.http.request(
            "PATCH", f"{table}/{sys_id}", json_body=fields, headers=JSON_HEADERS, auth=auth
        )
        if 200 <= answer.status_code < 300 and known is not None:
            await self.tickets.mark(known.id, RESOLVED)
        return outcome_for(answer, what="ServiceNow")

    async def _raise_change(
        self, message: OutgoingMessage, target: ServiceNowTarget, auth: tuple[str, str]
    ) -> AttemptOutcome:
        """Create the action's change once: known here, else found by its correlation_id, else created."""
        data = ChangeRequestedV1.model_validate(message.payload)
        claim = await self.changes.claim(
            tenant=message.tenant, subscription_id=message.subscription_id, data=data, attempt=message.delivery_id
        )
        if claim.outcome == "done":
            return AttemptOutcome(succeeded=True, error="the change for this action is already raised")
        if claim.outcome == "busy" or claim.ticket_id is None:
            return AttemptOutcome(succeeded=False, error="another attempt is raising this action's change")
        table = f"{str(target.instance_url).rstrip('/')}/api/now/table/{target.change_table}"
        found = await self.http.request(
            "GET",
            table,
            params={
                "sysparm_query": f"correlation_id={changes.correlation_id(data.action_id)}",
                "sysparm_fields": "sys_id,number,state",
                "sysparm_limit": "1",
            },
            headers=JSON_HEADERS,
            auth=auth,
            max_body=65_536,
        )
        if found.status_code != 200:
            return outcome_for(found, what="ServiceNow")
        records = found_records(found)
        if records is None:
            return unexpected(found, "change query", QUERY_SHAPE)
        answer, record = found, records[0] if records else None
        if record is None:
            answer = await self.http.request(
                "POST",
                table,
                json_body=changes.change_body(data, target),
                headers=JSON_HEADERS,
                auth=auth,
                max_body=65_536,
            )
            if not 200 <= answer.status_code < 300:
                return outcome_for(answer, what="ServiceNow")
            record = created_record(answer)
            if record is None:  # it may exist all the same: the retry finds it by its correlation_id
                return unexpected(answer, "change create", CREATE_SHAPE)
        await self.changes.raised(
            claim.ticket_id,
            tenant=message.tenant,
            data=data,
            external_id=str(record["sys_id"]),
            number=str(record["number"]) if record.get("number") else None,
            state=record.get("state"),
        )
        return outcome_for(answer, what="ServiceNow")

    async def _remember(self, message: OutgoingMessage, sys_id: str, number: str | None) -> None:
        await self.tickets.opened(
            tenant=message.tenant,
            subscription_id=message.subscription_id,
            system=self.name,
            key=message.correlation_key,
            external_id=sys_id,
            external_key=number,
        )

    async def close(self) -> None:
        """The shared HTTP client is closed by its owner."""
