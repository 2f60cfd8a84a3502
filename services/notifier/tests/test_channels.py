"""Every channel's exact request, against real receivers on loopback."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from conftest import WHEN
from fakes import jira, pagerduty, servicenow, serving
from jinja2.exceptions import SecurityError
from receivers import Receiver
from smtp_server import SmtpServer

from slm_notifier.channels import OutgoingMessage, SafeHttp, TicketStore
from slm_notifier.channels.chat import SlackChannel, TeamsChannel
from slm_notifier.channels.email import EmailChannel, SmtpSettings
from slm_notifier.itsm.jira import JiraChannel
from slm_notifier.itsm.pagerduty import PagerDutyChannel
from slm_notifier.itsm.servicenow import ServiceNowChannel
from slm_notifier.messages import Renderer

BREACH = {
    "agreement_id": "agr-1",
    "objective_id": "obj-1",
    "service_key": "payments",
    "indicator": "availability",
    "status": "breached",
    "objective": 0.999,
    "attainment": 0.995,
    "severity": "critical",
    "window_start": "2026-02-01T00:00:00+00:00",
    "window_end": "2026-03-01T00:00:00+00:00",
}
ACK = "http://notifier.example/v1/notifications/n-1/acknowledge/signed?expires=1&signature=ab"


def message(verb: str = "breached", target: dict[str, Any] | None = None, **extra: Any) -> OutgoingMessage:
    event_type = f"slm.measurement.objective.{verb}.v1"
    data = {**BREACH, "status": verb, "severity": "critical" if verb == "breached" else "info"}
    content = Renderer().render(
        event_type=event_type,
        event_id=f"evt-{verb}",
        data=data,
        language="en",
        agreement_name="Gold",
        ack_url=extra.pop("ack_url", None),
    )
    values: dict[str, Any] = {
        "delivery_id": f"dlv-{verb}",
        "event_id": f"evt-{verb}",
        "event_type": event_type,
        "event_time": WHEN,
        "tenant": "acme",
        "payload": data,
        "target": target or {},
        "secrets": (),
        "subscription_id": "sub-1",
        "content": content,
    }
    return OutgoingMessage(**{**values, **extra})


FACTS_EN = [
    ("Agreement", "Gold"),
    ("Service", "payments"),
    ("Indicator", "availability"),
    ("Status", "breached"),
    ("Objective", "99.9%"),
    ("Attainment", "99.5%"),
    ("Window", "2026-02-01T00:00:00+00:00 to 2026-03-01T00:00:00+00:00"),
]
SUBJECT = "Breach: Gold / availability at 99.5% (objective 99.9%)"
FIRST_PARAGRAPH = (
    "The objective for availability on service payments under agreement Gold is breached.\n"
    "Attainment is 99.5% against an objective of 99.9% for the window ending 2026-03-01T00:00:00+00:00."
)


async def test_slack_block_kit_message(http: SafeHttp) -> None:
    async with Receiver() as receiver:
        outcome = await SlackChannel(http).send(message(target={"url": receiver.url("/slack")}, ack_url=ACK))
        (request,) = receiver.requests
    await http.close()
    assert outcome.succeeded and outcome.status_code == 200
    assert request.path == "/slack" and request.headers["content-type"] == "application/json"
    assert json.loads(request.body) == {
        "text": SUBJECT,
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": SUBJECT, "emoji": True}},
            {"type": "section", "text": {"type": "mrkdwn", "text": FIRST_PARAGRAPH}},
            {"type": "section", "fields": [{"type": "mrkdwn", "text": f"*{k}*\n{v}"} for k, v in FACTS_EN]},
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Acknowledge"},
                        "url": ACK,
                        "action_id": "acknowledge",
                        "style": "primary",
                    }
                ],
            },
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": "slm.measurement.objective.breached.v1 · evt-breached"}],
            },
        ],
    }


async def test_teams_adaptive_card_message(http: SafeHttp) -> None:
    async with Receiver((429, {"Retry-After": "7"})) as receiver:
        channel = TeamsChannel(http)
        throttled = await channel.send(message("recovered", target={"url": receiver.url("/teams")}))
        outcome = await channel.send(message("recovered", target={"url": receiver.url("/teams")}))
        request = receiver.requests[-1]
    await http.close()
    assert (throttled.succeeded, throttled.retry_after_seconds) == (False, 7)
    assert outcome.succeeded
    subject = "Recovered: Gold / availability at 99.5%"
    facts = [{"title": k, "value": "recovered" if k == "Status" else v} for k, v in FACTS_EN]
    assert json.loads(request.body) == {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": {
                    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "type": "AdaptiveCard",
                    "version": "1.4",
                    "body": [
                        {
                            "type": "TextBlock",
                            "text": subject,
                            "weight": "Bolder",
                            "size": "Medium",
                            "wrap": True,
                            "style": "heading",
                            "color": "Good",
                        },
                        {
                            "type": "TextBlock",
                            "text": "The objective for availability on service payments under agreement Gold has "
                            "recovered.\nAttainment is 99.5% against an objective of 99.9%.",
                            "wrap": True,
                        },
                        {"type": "FactSet", "facts": facts},
                        {
                            "type": "TextBlock",
                            "text": "slm.measurement.objective.recovered.v1 · evt-recovered",
                            "isSubtle": True,
                            "size": "Small",
                        },
                    ],
                },
            }
        ],
    }


SN_TARGET = {"instance_url": "", "username": "svc", "password": "pw", "assignment_group": "SLM", "close_code": "Solved"}


async def test_servicenow_breach_opens_one_incident_and_recovery_resolves_it(
    http: SafeHttp, tickets: TicketStore
) -> None:
    async with serving(servicenow()) as fake:
        channel = ServiceNowChannel(http, tickets)
        target = {**SN_TARGET, "instance_url": fake.url}
        assert (await channel.send(message(target=target))).succeeded
        assert (await channel.send(message(target=target, delivery_id="dlv-again"))).succeeded
        assert (await channel.send(message("recovered", target=target))).succeeded
        # no mapping for this subscription: the open incident is found by its correlation_id
        other = await channel.send(message(target=target, subscription_id="sub-2"))
    await http.close()
    assert other.succeeded
    created = [r for r in fake.requests if r.method == "POST"]
    assert len(created) == 2
    first = created[0].body
    assert first == {
        "short_description": SUBJECT,
        "description": FIRST_PARAGRAPH,
        "correlation_id": "slm:agr-1:obj-1",
        "correlation_display": "SLM",
        "urgency": "1",
        "impact": "1",
        "assignment_group": "SLM",
    }
    incidents = list(fake.state["incidents"].values())
    resolved = incidents[0]
    assert resolved["state"] == "6" and resolved["close_code"] == "Solved" and resolved["active"] == "false"
    assert resolved["work_notes"].startswith(SUBJECT)
    patches = [r.path for r in fake.requests if r.method == "PATCH"]
    assert patches == [f"/api/now/table/incident/{resolved['sys_id']}"] * 2
    lookups = [r.query["sysparm_query"] for r in fake.requests if r.method == "GET"]
    assert lookups == ["correlation_id=slm:agr-1:obj-1^active=true"] * 2
    assert await tickets.open_ticket(subscription_id="sub-1", key="agr-1:obj-1") is None


async def test_jira_request_then_comment_and_transition(http: SafeHttp, tickets: TicketStore) -> None:
    target = {
        "base_url": "",
        "email": "ops@example.com",
        "api_token": "tok",
        "service_desk_id": "4",
        "request_type_id": "17",
    }
    async with serving(jira()) as fake:
        channel = JiraChannel(http, tickets)
        target["base_url"] = fake.url
        assert (await channel.send(message(target=target))).succeeded
        assert (await channel.send(message("recovered", target=target))).succeeded
    await http.close()
    calls = [(r.method, r.path) for r in fake.requests]
    assert calls == [
        ("POST", "/rest/servicedeskapi/request"),
        ("POST", "/rest/servicedeskapi/request/SLM-1/comment"),
        ("GET", "/rest/servicedeskapi/request/SLM-1/transition"),
        ("POST", "/rest/servicedeskapi/request/SLM-1/transition"),
    ]
    assert fake.requests[0].body == {
        "serviceDeskId": "4",
        "requestTypeId": "17",
        "requestFieldValues": {"summary": SUBJECT, "description": FIRST_PARAGRAPH},
    }
    assert fake.requests[1].body["public"] is True and "recovered" in fake.requests[1].body["body"]
    assert fake.requests[3].body == {"id": "31"}
    assert fake.state["issues"]["SLM-1"]["status"] == "Resolved"


async def test_pagerduty_trigger_then_resolve_with_the_same_dedup_key(http: SafeHttp, tickets: TicketStore) -> None:
    async with serving(pagerduty()) as fake:
        channel = PagerDutyChannel(http, tickets)
        target = {"routing_key": "R0UTINGKEY", "url": f"{fake.url}/v2/enqueue"}
        assert (await channel.send(message(target=target, ack_url=ACK))).succeeded
        assert await tickets.open_ticket(subscription_id="sub-1", key="agr-1:obj-1") is not None
        assert (await channel.send(message("recovered", target=target))).succeeded
    await http.close()
    trigger, resolve = (r.body for r in fake.requests)
    assert trigger == {
        "routing_key": "R0UTINGKEY",
        "event_action": "trigger",
        "dedup_key": "slm:acme:agr-1:obj-1",
        "payload": {
            "summary": SUBJECT,
            "source": "slm/payments",
            "severity": "critical",
            "timestamp": "2026-03-01T12:00:00+00:00",
            "component": "payments",
            "group": "agr-1",
            "class": "availability",
            "custom_details": {**dict(FACTS_EN), "event_id": "evt-breached"},
        },
        "client": "SLM notifier",
        "links": [{"href": ACK, "text": "Acknowledge"}],
    }
    assert resolve == {"routing_key": "R0UTINGKEY", "event_action": "resolve", "dedup_key": "slm:acme:agr-1:obj-1"}
    assert await tickets.open_ticket(subscription_id="sub-1", key="agr-1:obj-1") is None


def smtp_for(server: SmtpServer, password: str = "s3cret") -> SmtpSettings:
    return SmtpSettings(
        host="127.0.0.1",
        port=server.port,
        sender="SLM <slm@example.com>",
        username="mailer",
        password=password,
        starttls=True,
        ca_file=str(server.cert),
        timeout_seconds=5,
    )


async def test_email_over_starttls_with_auth_has_text_and_html(tmp_path: Path) -> None:
    with SmtpServer(tmp_path) as server:
        evil = {**BREACH, "indicator": "<b>avail</b>"}
        msg = message(
            target={"to": ["ops@example.com"]}, ack_url=ACK, recipients=("ops@example.com", "slm@acme.example")
        )
        content = Renderer().render(
            event_type=msg.event_type, event_id=msg.event_id, data=evt_data(evil), language="pt", ack_url=ACK
        )
        outcome = await EmailChannel(smtp_for(server)).send(replace(msg, content=content, payload=evil))
        refused = await EmailChannel(smtp_for(server, password="wrong")).send(msg)
        (accepted,) = server.mailbox.messages
    assert outcome.succeeded and outcome.status_code == 250
    assert refused.permanent and refused.status_code == 535
    assert accepted.tls and accepted.login == "mailer"
    assert accepted.mail_from == "slm@example.com" and accepted.rcpt_tos == ["ops@example.com", "slm@acme.example"]
    email = accepted.message
    assert email["Subject"] == "Violação: agr-1 / <b>avail</b> em 99.5% (objetivo 99.9%)"
    assert email["X-SLM-Delivery-Id"] == "dlv-breached" and email["To"] == "ops@example.com, slm@acme.example"
    assert email.get_content_type() == "multipart/alternative"
    text, html = (part for part in email.iter_parts())
    assert text.get_content_type() == "text/plain" and html.get_content_type() == "text/html"
    assert "O objetivo de <b>avail</b> do serviço payments" in text.get_content()
    assert "Confirme esta notificação para parar o escalonamento: " + ACK in text.get_content()
    assert "O objetivo de &lt;b&gt;avail&lt;/b&gt; do serviço payments" in html.get_content()
    assert f'<a href="{ACK.replace("&", "&amp;")}">Confirmar</a>' in html.get_content()


def evt_data(data: dict[str, Any]) -> dict[str, Any]:
    return {**data, "status": "breached"}


def test_templates_exist_for_every_language_and_fall_back_to_english() -> None:
    renderer = Renderer()
    subjects = {
        lang: renderer.render(
            event_type="slm.measurement.objective.at_risk.v1", event_id="e", data=BREACH, language=lang
        ).subject
        for lang in ("en", "pt", "es", "pl", "ru")
    }
    assert subjects == {
        "en": "At risk: agr-1 / availability at 99.5% (objective 99.9%)",
        "pt": "Em risco: agr-1 / availability em 99.5% (objetivo 99.9%)",
        "es": "En riesgo: agr-1 / availability en 99.5% (objetivo 99.9%)",
        "pl": "Zagrożenie: agr-1 / availability na poziomie 99.5% (cel 99.9%)",
        "ru": "Под угрозой: agr-1 / availability — 99.5% (цель 99.9%)",
    }
    unknown = renderer.render(event_type="slm.agreements.review.due.v1", event_id="e", data={}, language="ru")
    assert unknown.subject == "Уведомление: slm.agreements.review.due.v1"
    assert renderer.render(event_type="x", event_id="e", data={}, language="de").subject == "Notification: x"


def test_templates_are_sandboxed() -> None:
    renderer = Renderer()
    assert renderer.env.from_string("{{ data.__class__.__mro__ }}").render(data={}) == ""
    with pytest.raises(SecurityError):
        renderer.env.from_string("{{ data.clear() }}").render(data={"a": 1})
