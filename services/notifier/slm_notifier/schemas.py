"""Notifier API models."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator, model_validator

from slm_notifier.channels import TARGET_MODELS
from slm_notifier.matching import DELIVERABLE_TYPES, known_types_matching
from slm_notifier.redaction import redacted_target
from slm_shared.contracts import EVENTS
from slm_shared.errors import FieldError, Unprocessable, field_name

Language = Literal["en", "pt", "es", "pl", "ru"]
Severity = Literal["info", "warning", "critical"]
DeliveryStatus = Literal["pending", "succeeded", "failed", "dead", "superseded"]
ChannelName = Literal["webhook", "slack", "teams", "email", "servicenow", "jira", "pagerduty"]
NotificationState = Literal["open", "acknowledged", "resolved", "exhausted"]
TARGET_HELP = (
    "webhook/slack/teams: {url}; email: {to: [...], contacts: {party, roles}}; "
    "servicenow: {instance_url, username, password, ...}; "
    "jira: {base_url, email, api_token, service_desk_id, request_type_id, resolve_transition, project_key, "
    "change_issue_type}; "
    "pagerduty: {routing_key, url}"
)
CHANGE_REQUESTED = EVENTS.change_requested.type
TypePattern = Annotated[str, StringConstraints(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9_.*?\[\]!-]+$")]


class SubscriptionFilters(BaseModel):
    """Narrow which events reach a subscription; an unset filter lets everything through."""

    model_config = ConfigDict(extra="forbid")

    service_key: str | None = Field(None, max_length=64)
    agreement_id: str | None = Field(None, max_length=64)
    consumer_party_id: str | None = Field(None, max_length=64)
    min_severity: Severity | None = None


def _check_patterns(patterns: list[str] | None) -> list[str] | None:
    if patterns is None:
        return None
    for pattern in patterns:
        if not known_types_matching(pattern):
            raise ValueError(f"{pattern!r} matches none of the event types: {', '.join(DELIVERABLE_TYPES)}")
    return list(dict.fromkeys(patterns))


class SubscriptionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    event_types: list[TypePattern] = Field(
        min_length=1, max_length=50, description="type patterns with wildcards, e.g. slm.measurement.objective.*"
    )
    channel: ChannelName = "webhook"
    target: dict[str, Any] = Field(description=TARGET_HELP)
    filters: SubscriptionFilters = Field(default_factory=SubscriptionFilters)
    language: Language = "en"
    enabled: bool = True
    escalation_seconds: int | None = Field(
        None, ge=1, le=30 * 86_400, description="escalate unacknowledged breaches after this long (contacts only)"
    )

    @field_validator("event_types")
    @classmethod
    def _patterns(cls, value: list[str]) -> list[str]:
        return _check_patterns(value) or []


class SubscriptionUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=200)
    event_types: list[TypePattern] | None = Field(None, min_length=1, max_length=50)
    target: dict[str, Any] | None = Field(None, description=TARGET_HELP)
    filters: SubscriptionFilters | None = None
    language: Language | None = None
    enabled: bool | None = None
    escalation_seconds: int | None = Field(None, ge=1, le=30 * 86_400)

    @field_validator("event_types")
    @classmethod
    def _patterns(cls, value: list[str] | None) -> list[str] | None:
        return _check_patterns(value)


class SubscriptionPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    event_types: list[str]
    channel: str
    target: dict[str, Any]
    filters: SubscriptionFilters
    language: str
    enabled: bool
    escalation_seconds: int | None = None
    disabled_reason: str | None
    previous_secret_expires_at: datetime | None = Field(
        None, description="until when the previous secret still signs, after a rotation"
    )
    version: int
    created_at: datetime
    updated_at: datetime

    @model_validator(mode="after")
    def _hide_credentials(self) -> SubscriptionPublic:
        self.target = redacted_target(self.channel, self.target)
        return self


class SubscriptionWithSecret(SubscriptionPublic):
    secret: str = Field(description="Standard Webhooks signing secret; shown only in this response")


class AttemptPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    number: int
    attempted_at: datetime
    succeeded: bool
    status_code: int | None
    error: str | None
    duration_ms: int
    next_attempt_at: datetime | None


class DeliveryPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str = Field(description="also the webhook-id header, stable across retries")
    subscription_id: str
    event_id: str
    event_type: str
    event_time: datetime
    status: DeliveryStatus
    escalation_level: int = 1
    notification_id: str | None = None
    attempt_count: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None


class DeliveryDetail(DeliveryPublic):
    payload: dict[str, Any]
    attempts: list[AttemptPublic]


def validated_target(channel: str, target: dict[str, Any]) -> dict[str, Any]:
    """The target checked against its channel's model; 422 naming `target.<field>` when it is wrong."""
    try:
        return TARGET_MODELS[channel].model_validate(target).model_dump(mode="json", exclude_none=True)
    except ValidationError as exc:
        errors = [
            FieldError(field=field_name(("target", *err["loc"])), message=err["msg"], type=err["type"])
            for err in exc.errors()
        ]
        raise Unprocessable(f"The target is not valid for the {channel} channel", errors=errors) from exc


def check_change_requests(channel: str, event_types: list[str], target: dict[str, Any]) -> None:
    """A connection asked for requests for change must be able to raise them: 422 naming the field when not
    (PagerDuty has no change record; Jira needs the project to raise them in)."""
    asks = [i for i, p in enumerate(event_types) if CHANGE_REQUESTED in known_types_matching(p)]
    if not asks:
        return
    if channel == "pagerduty":
        message = (
            f"PagerDuty has no request for change: {CHANGE_REQUESTED} cannot go to a pagerduty subscription "
            "(use a servicenow or jira one, or a webhook)"
        )
        raise Unprocessable(message, errors=[FieldError(field=f"event_types[{i}]", message=message) for i in asks])
    if channel == "jira" and not target.get("project_key"):
        message = f"a jira subscription to {CHANGE_REQUESTED} names the project_key its change issues are created in"
        raise Unprocessable(message, errors=[FieldError(field="target.project_key", message=message)])


class NotificationPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    subscription_id: str
    event_id: str
    event_type: str
    agreement_id: str | None
    objective_id: str | None
    party_id: str | None
    consumer_party_id: str | None
    level: int = Field(description="the escalation level reached; 1 is the first contacts")
    state: NotificationState
    escalate_at: datetime | None = Field(
        description="when the next level hears of it unless acknowledged (a chase: when the next reminder goes)"
    )
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    escalation_error: str | None = Field(
        None, description="why the next level has not been told yet (e.g. the contact lookup failed); retried"
    )
    lookup_failures: int = Field(0, description="contact lookups that failed for this notification so far")
    action_id: str | None = Field(
        None, description="an overdue action's chase: reminded until the action is done or cancelled"
    )
    reminders: int = Field(0, description="reminders sent at the same level (a chase repeats; a breach does not)")
    created_at: datetime
    updated_at: datetime
