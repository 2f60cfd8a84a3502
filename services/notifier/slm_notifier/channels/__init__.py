"""Delivery channels by name; a new channel is a module and an entry in `build_channels` and `TARGET_MODELS`."""

from __future__ import annotations

from pydantic import BaseModel

from slm_notifier.channels.base import AttemptOutcome, Channel, OutgoingMessage
from slm_notifier.channels.chat import ChatTarget, SlackChannel, TeamsChannel
from slm_notifier.channels.email import EmailChannel, EmailTarget, SmtpSettings
from slm_notifier.channels.http import SafeHttp
from slm_notifier.channels.webhook import WebhookChannel, WebhookTarget
from slm_notifier.itsm.jira import JiraChannel, JiraTarget
from slm_notifier.itsm.pagerduty import PagerDutyChannel, PagerDutyTarget
from slm_notifier.itsm.servicenow import ServiceNowChannel, ServiceNowTarget
from slm_notifier.itsm.tickets import TicketStore

TARGET_MODELS: dict[str, type[BaseModel]] = {
    "webhook": WebhookTarget,
    "slack": ChatTarget,
    "teams": ChatTarget,
    "email": EmailTarget,
    "servicenow": ServiceNowTarget,
    "jira": JiraTarget,
    "pagerduty": PagerDutyTarget,
}
SECRET_TARGET_FIELDS = frozenset({"password", "api_token", "routing_key"})


def build_channels(*, http: SafeHttp, smtp: SmtpSettings, tickets: TicketStore) -> dict[str, Channel]:
    """Every channel the worker can send through, keyed by the name subscriptions use."""
    return {
        "webhook": WebhookChannel(http),
        "slack": SlackChannel(http),
        "teams": TeamsChannel(http),
        "email": EmailChannel(smtp),
        "servicenow": ServiceNowChannel(http, tickets),
        "jira": JiraChannel(http, tickets),
        "pagerduty": PagerDutyChannel(http, tickets),
    }


__all__ = [
    "SECRET_TARGET_FIELDS",
    "TARGET_MODELS",
    "AttemptOutcome",
    "Channel",
    "OutgoingMessage",
    "SafeHttp",
    "SmtpSettings",
    "TicketStore",
    "build_channels",
]
