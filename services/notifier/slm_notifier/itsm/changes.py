"""Requests for change in ServiceNow (and Jira, `jira_changes`): raised once per action (its correlation id),
then followed by polling the change record until it is closed or cancelled. Each status the tool reports becomes
`change.status_changed`."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast
from urllib.parse import quote

from sqlalchemy import CursorResult, Table, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from slm_notifier.channels.http import HttpAnswer, SafeHttp
from slm_notifier.config import Settings
from slm_notifier.itsm import jira_changes
from slm_notifier.models import OPEN, RESOLVED, ExternalTicket, Subscription
from slm_shared.app import ServiceContext
from slm_shared.bus import record_event
from slm_shared.contracts import EVENTS
from slm_shared.contracts.payloads import CHANGE_STATUSES_FINAL, ChangeRequestedV1, ChangeStatusChangedV1
from slm_shared.db import Database, utcnow
from slm_shared.tasks import checkpoint, pause

logger = logging.getLogger(__name__)
TICKETS = cast(Table, ExternalTicket.__table__)  # type: ignore[attr-defined]
T = TICKETS.c
SUBSCRIPTIONS = cast(Table, Subscription.__table__)  # type: ignore[attr-defined]
S = SUBSCRIPTIONS.c
SYSTEM = "servicenow"
JIRA = "jira"
JSON_HEADERS = {"Accept": "application/json"}
PRIORITY = {"high": "2", "medium": "3", "low": "4"}

# ServiceNow's change_request states (values and labels) as the platform names them.
_STATES = {
    "-5": "new", "new": "new",
    "-4": "assessing", "assess": "assessing", "-3": "assessing", "authorize": "assessing",
    "-2": "scheduled", "scheduled": "scheduled",
    "-1": "implementing", "implement": "implementing",
    "0": "reviewing", "review": "reviewing",
    "3": "closed", "closed": "closed",
    "4": "cancelled", "canceled": "cancelled", "cancelled": "cancelled",
}  # fmt: skip


def change_status(state: object, close_code: object = None) -> str | None:
    """The platform's status for a ServiceNow change state (None when the state is not one it knows)."""
    status = _STATES.get(str(state).strip().lower())
    if status == "closed" and str(close_code or "").strip().lower() == "unsuccessful":
        return "failed"
    return status


def change_key(action_id: str) -> str:
    """The ticket key of an action's change: one change per action."""
    return f"change:{action_id}"


def correlation_id(action_id: str) -> str:
    """The change record's correlation_id (at most 100 characters)."""
    return f"slm:{change_key(action_id)}"[:100]


def change_body(data: ChangeRequestedV1, target: Any) -> dict[str, Any]:
    """The change_request record's fields."""
    body: dict[str, Any] = {
        "short_description": data.summary[:160],
        "description": data.description or data.summary,
        "correlation_id": correlation_id(data.action_id),
        "correlation_display": "SLM",
        "type": "normal",
        "priority": PRIORITY.get(data.priority, "3"),
    }
    if getattr(target, "assignment_group", None):
        body["assignment_group"] = target.assignment_group
    return body


CREATING = "creating"
CLAIM_LEASE = timedelta(minutes=5)  # a claim left by a crashed attempt is taken over after this long


@dataclass(frozen=True)
class Claim:
    """Whether this attempt creates the change (`ticket_id` its claim), or it exists, or another is creating it."""

    outcome: str  # "mine", "done" or "busy"
    ticket_id: int | None = None
    sent_at: datetime | None = None  # when an earlier attempt sent the create whose answer never came back


class ChangeStore:
    """The change ticket of (subscription, action), and its status changes told as events in the same commit."""

    def __init__(self, db: Database, system: str = SYSTEM) -> None:
        self.db = db
        self.system = system

    async def claim(self, *, tenant: str, subscription_id: str, data: ChangeRequestedV1, attempt: str) -> Claim:
        """Reserve the creation of the action's change for this attempt (one per action and subscription)."""
        key = f"{subscription_id}:{change_key(data.action_id)}"
        now = utcnow()
        context = {
            "change_request_id": data.change_request_id,
            "action_id": data.action_id,
            "agreement_id": data.agreement_id,
            "claimed_by": attempt,
        }
        try:
            async with self.db.session() as session:
                result = await session.execute(
                    insert(TICKETS).values(
                        tenant=tenant, subscription_id=subscription_id, system=self.system,
                        correlation_key=change_key(data.action_id), external_id="", external_key=None,
                        state=CREATING, context=context, claim_key=key, created_at=now, updated_at=now,
                    )
                )  # fmt: skip
                inserted = cast(CursorResult[Any], result).inserted_primary_key
                assert inserted is not None
                return Claim("mine", int(inserted[0]))
        except IntegrityError:
            pass
        async with self.db.session() as session:
            row = (
                await session.execute(select(T.id, T.state, T.context, T.updated_at).where(T.claim_key == key))
            ).one()
            if row.state != CREATING:
                return Claim("done", row.id)
            if (row.context or {}).get("claimed_by") != attempt and row.updated_at > now - CLAIM_LEASE:
                return Claim("busy", row.id)
            sent = (row.context or {}).get("create_sent_at")
            if sent:
                context["create_sent_at"] = sent
            taken = await session.execute(
                update(TICKETS)
                .where(T.id == row.id, T.state == CREATING, T.updated_at == row.updated_at)
                .values(context=context, updated_at=now)
            )
            sent_at = datetime.fromisoformat(sent) if sent else None
            return Claim("mine" if taken.rowcount else "busy", row.id, sent_at)  # type: ignore[attr-defined]

    async def sending(self, ticket_id: int, *, data: ChangeRequestedV1, attempt: str, at: datetime) -> None:
        """Note on the claim, before the create is sent, that it is: a later attempt that cannot find the change
        knows one may exist (the answer lost) and how long ago it was sent."""
        context = {
            "change_request_id": data.change_request_id,
            "action_id": data.action_id,
            "agreement_id": data.agreement_id,
            "claimed_by": attempt,
            "create_sent_at": at.isoformat(),
        }
        async with self.db.session() as session:
            await session.execute(
                update(TICKETS).where(T.id == ticket_id, T.state == CREATING).values(context=context, updated_at=at)
            )

    async def raised(
        self,
        ticket_id: int,
        *,
        tenant: str,
        data: ChangeRequestedV1,
        external_id: str,
        number: str | None,
        state: object,
        status: str | None = None,
    ) -> None:
        """Keep the change the tool created (or already had) on the claim, and tell its first status (`status`,
        else read from the tool's `state`)."""
        status = status or change_status(state) or "new"
        now = utcnow()
        context = {
            "change_request_id": data.change_request_id,
            "action_id": data.action_id,
            "agreement_id": data.agreement_id,
        }
        async with self.db.session() as session:
            await session.execute(
                update(TICKETS)
                .where(T.id == ticket_id)
                .values(
                    external_id=external_id,
                    external_key=number,
                    state=RESOLVED if status in CHANGE_STATUSES_FINAL else OPEN,
                    external_status=status,
                    context=context,
                    updated_at=now,
                )
            )
            _tell(session, tenant, context, status, external_id, number, state, now, self.system)

    async def moved(
        self, ticket_id: int, *, tenant: str, context: dict[str, Any], row: dict[str, Any], status: str, now: datetime
    ) -> None:
        """Record a new status of a change (closing the ticket when final) and tell it."""
        async with self.db.session() as session:
            await session.execute(
                update(TICKETS)
                .where(T.id == ticket_id)
                .values(
                    external_status=status,
                    external_key=row.get("number") or None,
                    state=RESOLVED if status in CHANGE_STATUSES_FINAL else OPEN,
                    updated_at=now,
                )
            )
            ext = str(row.get("sys_id") or "")
            _tell(session, tenant, context, status, ext, row.get("number"), row.get("state"), now, self.system)


def _tell(
    session: AsyncSession,
    tenant: str,
    context: dict[str, Any],
    status: str,
    external_id: str,
    number: object,
    state: object,
    now: datetime,
    system: str,
) -> None:
    record_event(
        session,
        EVENTS.change_status_changed,
        tenant=tenant,
        subject=str(context["action_id"]),
        data=ChangeStatusChangedV1(
            change_request_id=str(context["change_request_id"]),
            action_id=str(context["action_id"]),
            agreement_id=str(context["agreement_id"]),
            status=status,
            system=system,
            external_id=external_id,
            external_ref=str(number) if number else None,
            external_state=str(state) if state is not None else None,
            observed_at=now,
        ),
    )


class ChangePoller:
    """Reads every open change's record and tells what moved; one pass per call."""

    def __init__(self, db: Database, http: SafeHttp, store: ChangeStore, *, batch: int = 100) -> None:
        self.db = db
        self.http = http
        self.stores = {SYSTEM: store, JIRA: ChangeStore(db, JIRA)}
        self.batch = batch

    async def run_once(self) -> int:
        """Poll the open changes; returns how many reported a new status."""
        async with self.db.session() as session:
            rows = (
                await session.execute(
                    select(TICKETS, S.target)
                    .join(SUBSCRIPTIONS, S.id == T.subscription_id)
                    .where(
                        T.system.in_((SYSTEM, JIRA)),
                        T.state.not_in((RESOLVED, CREATING)),
                        T.correlation_key.like("change:%"),
                        S.enabled.is_(True),  # a disabled subscription's credentials are not used
                    )
                    .order_by(T.updated_at, T.id)
                    .limit(self.batch)
                )
            ).all()
        moved = 0
        for row in rows:
            try:
                moved += await self._poll(row)
            except Exception as exc:  # noqa: BLE001 - one tool's failure must not stop the others
                logger.warning("polling change %s failed: %s", row.external_id, exc)
        return moved

    async def _poll(self, row: Any) -> int:
        target = row.target or {}
        if row.system == JIRA:
            read, issue = await jira_changes.read_status(self.http, target, str(row.external_id))
            if read.status_code != 200:
                logger.warning("change %s: Jira answered %s", row.external_id, read.status_code)
                return 0
            return await self._seen(row, issue, issue.get("status"))
        table = f"{str(target.get('instance_url', '')).rstrip('/')}/api/now/table/"
        table += str(target.get("change_table") or "change_request")
        answer: HttpAnswer = await self.http.request(
            "GET",
            f"{table}/{quote(str(row.external_id), safe='')}",
            params={"sysparm_fields": "sys_id,number,state,close_code"},
            headers=JSON_HEADERS,
            auth=(str(target.get("username", "")), str(target.get("password", ""))),
            max_body=65_536,
        )
        if answer.status_code != 200:
            logger.warning("change %s: ServiceNow answered %s", row.external_id, answer.status_code)
            return 0
        page = answer.json()
        record = page.get("result") if isinstance(page, dict) else None
        if not isinstance(record, dict):
            logger.warning(
                "change %s: ServiceNow answered 200 with no record: %s", row.external_id, answer.snippet[:200]
            )
            return 0
        return await self._seen(row, record, change_status(record.get("state"), record.get("close_code")))

    async def _seen(self, row: Any, record: dict[str, Any], status: str | None) -> int:
        """Tell a status the tool reports for the first time; else only note that the change was looked at."""
        now = utcnow()
        if status is None or status == row.external_status:
            async with self.db.session() as session:  # looked at: the others come first next time
                await session.execute(update(TICKETS).where(T.id == row.id).values(updated_at=now))
            return 0
        record.setdefault("sys_id", row.external_id)
        await self.stores[row.system].moved(
            row.id, tenant=row.tenant, context=row.context or {}, row=record, status=status, now=now
        )
        return 1


async def change_status_worker(context: ServiceContext) -> None:
    """Poll the open changes every `change_poll_seconds` for the service's lifetime."""
    settings = cast(Settings, context.settings)
    http = SafeHttp(
        allow_private_targets=settings.private_targets_allowed, timeout_seconds=settings.attempt_timeout_seconds
    )
    poller = ChangePoller(context.db, http, ChangeStore(context.db))
    context.extras["change_poller"] = poller
    try:
        while True:
            checkpoint()
            try:
                await poller.run_once()
            except Exception as exc:  # noqa: BLE001 - the worker outlives database hiccups
                checkpoint()
                logger.warning("change status pass failed: %s", exc)
            await pause(settings.change_poll_seconds)
    finally:
        await http.close()
