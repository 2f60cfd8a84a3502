"""Payloads of the events the notifier publishes. A change to a payload is a new version, never an edit."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from slm_shared.contracts.payloads.common import Payload

ChangeStatus = Literal[
    "requested", "new", "assessing", "scheduled", "implementing", "reviewing", "closed", "cancelled", "failed"
]


class ChangeStatusChangedV1(Payload):
    """The ITSM tool created a request for change, or its change moved on (status as the platform names it)."""

    change_request_id: str
    action_id: str
    agreement_id: str
    status: ChangeStatus
    system: str = Field(description="the ITSM tool: servicenow")
    external_id: str = Field(description="the tool's record id (sys_id)")
    external_ref: str | None = Field(None, description="the number people use, e.g. CHG0030001")
    external_state: str | None = Field(None, description="the tool's own state value")
    observed_at: datetime
