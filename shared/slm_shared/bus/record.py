"""Writing events into the transactional outbox, inside the caller's transaction (`OutboxRelay` publishes them
after its commit), and the tenant checks of jobs that record events for many rows."""

from __future__ import annotations

import json
import logging
from typing import Any

from opentelemetry import propagate
from pydantic import BaseModel
from sqlalchemy import ColumnElement, func
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped

from slm_shared.bus.outbox_row import new_row
from slm_shared.contracts.envelope import TENANT_MAX_LENGTH, CloudEvent, EventSpec, tenant_refusal
from slm_shared.db import utcnow

logger = logging.getLogger("slm_shared.bus.outbox")  # the outbox's, as before these moved here

PENDING_FLAG = "slm_outbox_pending"
ROWS_KEY = "slm_outbox_rows"  # the rows `record_event` added, handed to the relay after commit

# An event's body: its data as compact JSON, non-ASCII escaped (`json.dumps` with these separators, made once).
_BODY = json.JSONEncoder(separators=(",", ":")).encode


def tenant_carried(tenant: str, *, job: str, item: str) -> bool:
    """Whether an event can carry a stored row's `tenant` (`tenant_refusal`); if not, logs that `job` skips `item`.

    A periodic job that records events for many rows in one transaction asks first: one row whose event would be
    refused (`InvalidEvent`, e.g. a tenant SQLite kept past its 64 characters before the bound was enforced) is
    left as it is, logged every pass until its tenant is renamed, and the other rows, and the other jobs, go on.
    """
    if (why := tenant_refusal(tenant)) is None:
        return True
    logger.warning("%s skips %s: its tenant %s, so no event can carry it (rename the tenant)", job, item, why)
    return False


def carried_tenant(tenant: Mapped[str] | ColumnElement[str]) -> ColumnElement[bool]:
    """The SQL condition that a row's `tenant` has a length an event can carry (1 to `TENANT_MAX_LENGTH`).

    A periodic job's batch query filters with it, so rows of a longer tenant SQLite kept are never selected: a
    skipped row left in the batch qualifies again every pass, and as many of them as the batch's limit, sorted
    first, would starve every other tenant. `tenant_carried` still checks each row for what SQL cannot see (U+0000).
    """
    return func.length(tenant).between(1, TENANT_MAX_LENGTH)


def record_event(
    session: AsyncSession,
    spec: EventSpec[Any],
    *,
    tenant: str,
    data: BaseModel,
    subject: str | None = None,
) -> CloudEvent:
    """Add an event to the outbox inside the caller's transaction; it is sent after commit."""
    event = spec.build(tenant=tenant, data=data, subject=subject)
    headers = event.headers()
    propagate.inject(headers)
    row = new_row(
        event_id=event.id,
        tenant=tenant,
        subject=spec.subject,
        type=event.type,
        headers=headers,
        body=_BODY(event.data),
        created_at=utcnow(),
    )
    session.add(row)
    session.info.setdefault(ROWS_KEY, []).append(row)
    session.info[PENDING_FLAG] = True
    return event
