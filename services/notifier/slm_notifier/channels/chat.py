"""Chat channels: Slack incoming webhooks (Block Kit) and Microsoft Teams (Adaptive Card)."""

from __future__ import annotations

from typing import Any

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field

from slm_notifier.channels.base import AttemptOutcome, OutgoingMessage
from slm_notifier.channels.http import SafeHttp, attempt, outcome_for
from slm_notifier.messages import Content

SLACK_MAX_FIELDS = 10
SLACK_HEADER_CHARS = 150
TEAMS_COLOR = {"critical": "Attention", "warning": "Warning", "info": "Default"}


class ChatTarget(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: AnyHttpUrl = Field(description="the incoming-webhook URL the chat tool gave you")


def slack_escape(text: str) -> str:
    """Escape the three characters Slack's mrkdwn reserves."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_payload(message: OutgoingMessage, content: Content) -> dict[str, Any]:
    """A Block Kit message: header, body, facts as fields, an acknowledge button, context."""
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": content.subject[:SLACK_HEADER_CHARS], "emoji": True}},
        {"type": "section", "text": {"type": "mrkdwn", "text": slack_escape(content.text.split("\n\n")[0])}},
    ]
    if content.facts:
        fields = [
            {"type": "mrkdwn", "text": f"*{slack_escape(label)}*\n{slack_escape(value)}"}
            for label, value in content.facts[:SLACK_MAX_FIELDS]
        ]
        blocks.append({"type": "section", "fields": fields})
    if content.ack_url:
        button = {
            "type": "button",
            "text": {"type": "plain_text", "text": content.ack_label},
            "url": content.ack_url,
            "action_id": "acknowledge",
            "style": "primary",
        }
        blocks.append({"type": "actions", "elements": [button]})
    context = f"{message.event_type} · {message.event_id}"
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": slack_escape(context)}]})
    return {"text": content.subject, "blocks": blocks}


def teams_payload(message: OutgoingMessage, content: Content) -> dict[str, Any]:
    """A message with one Adaptive Card attachment, as Teams incoming webhooks and workflows take it."""
    body: list[dict[str, Any]] = [
        {
            "type": "TextBlock",
            "text": content.subject,
            "weight": "Bolder",
            "size": "Medium",
            "wrap": True,
            "style": "heading",
            "color": "Good" if content.status == "recovered" else TEAMS_COLOR.get(content.severity, "Default"),
        },
        {"type": "TextBlock", "text": content.text.split("\n\n")[0], "wrap": True},
    ]
    if content.facts:
        body.append({"type": "FactSet", "facts": [{"title": label, "value": value} for label, value in content.facts]})
    body.append(
        {"type": "TextBlock", "text": f"{message.event_type} · {message.event_id}", "isSubtle": True, "size": "Small"}
    )
    card: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
    }
    if content.ack_url:
        card["actions"] = [{"type": "Action.OpenUrl", "title": content.ack_label, "url": content.ack_url}]
    attachment = {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}
    return {"type": "message", "attachments": [attachment]}


class _ChatChannel:
    target_model: type[BaseModel] = ChatTarget
    needs_content = True
    name = ""

    def __init__(self, http: SafeHttp) -> None:
        self.http = http

    def payload(self, message: OutgoingMessage, content: Content) -> dict[str, Any]:
        raise NotImplementedError

    async def send(self, message: OutgoingMessage) -> AttemptOutcome:
        """POST the rendered message to the incoming webhook."""
        assert message.content is not None, "chat channels need rendered content"
        body = self.payload(message, message.content)

        async def _post() -> AttemptOutcome:
            answer = await self.http.request("POST", str(message.target["url"]), json_body=body)
            return outcome_for(answer, what=self.name)

        return await attempt(self.http.timeout_seconds, _post)

    async def close(self) -> None:
        """The shared HTTP client is closed by its owner."""


class SlackChannel(_ChatChannel):
    name = "slack"

    def payload(self, message: OutgoingMessage, content: Content) -> dict[str, Any]:
        return slack_payload(message, content)


class TeamsChannel(_ChatChannel):
    name = "teams"

    def payload(self, message: OutgoingMessage, content: Content) -> dict[str, Any]:
        return teams_payload(message, content)
