"""Improvement action API models."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

ActionStatus = Literal["open", "in_progress", "done", "cancelled"]


class ActionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=20000)
    owner: str = Field(
        min_length=1, max_length=200, description="a contact of the agreement's provider or consumer: name or e-mail"
    )
    due_on: date
    source: Literal["review", "breach", "manual"] = "manual"
    objective_id: str | None = Field(None, max_length=36, description="the objective it should improve")
    review_id: str | None = Field(None, max_length=36, description="the review that decided it")
    breach_ref: str | None = Field(None, max_length=200, description="the breach it answers, e.g. an event id")


class ActionUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=20000)
    owner: str | None = Field(None, min_length=1, max_length=200)
    due_on: date | None = None
    status: ActionStatus | None = None


class ChangeRequestCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    summary: str | None = Field(None, max_length=200, description="defaults to the action's title")
    description: str = Field("", max_length=20000)
    priority: Literal["low", "medium", "high"] = "medium"


class ChangeRequestPublic(BaseModel):
    change_request_id: str
    action_id: str
    agreement_id: str
    summary: str
    priority: str
    requested_at: datetime


class ChangeRequestListed(BaseModel):
    change_request_id: str
    action_id: str
    action_title: str
    status: str = Field(description="requested until the ITSM tool reports on the change")
    requested_at: datetime
    change_ref: str | None = Field(None, description="the change's number in the ITSM tool, once it created it")
    system: str | None = Field(None, description="the ITSM tool that holds the change")
    status_at: datetime | None = Field(None, description="when the ITSM tool's status was observed")


class ActionPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    agreement_id: str
    title: str = Field(description="in the reader's language (?lang= or Accept-Language) when the platform wrote it")
    title_key: str | None = Field(None, description="the message key of a platform-written title")
    title_params: dict[str, Any] | None = None
    description: str = Field(description="in the reader's language when the platform wrote it")
    description_key: str | None = Field(None, description="the message key of a platform-written description")
    description_params: dict[str, Any] | None = None
    owner: str
    owner_email: str | None
    owner_party_id: str | None
    due_on: date
    status: ActionStatus
    source: str
    objective_id: str | None
    review_id: str | None
    breach_ref: str | None
    overdue_notified_at: datetime | None
    change_requested_at: datetime | None
    change_request_id: str | None = None
    change_status: str | None = Field(None, description="requested, then as the ITSM tool reports it")
    change_ref: str | None = None
    created_by: str
    created_at: datetime
    updated_at: datetime
