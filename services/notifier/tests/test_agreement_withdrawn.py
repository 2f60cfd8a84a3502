"""A withdrawn amendment is told like the other agreement changes: webhook and e-mail, in the subscriber's language."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from receivers import Receiver
from smtp_server import SmtpServer
from standardwebhooks import Webhook
from test_escalation import mails, smtp_settings

from slm_shared.contracts import EVENTS
from slm_shared.contracts.payloads import AgreementStateChangedV1

WITHDRAWN = AgreementStateChangedV1(
    agreement_id="agr-1", version=3, kind="SLA", name="Gold for Acme", service_id="svc-1", service_key="payments",
    consumer_party_id="acme", state="withdrawn", previous_state="proposed", actor="sam",
    comment="the customer keeps the current terms",
)  # fmt: skip


LANGUAGES = ("en", "pt", "es", "pl", "ru")


async def _subscribe(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    created = await client.post("/v1/subscriptions", json=body)
    assert created.status_code == 201, created.text
    return dict(created.json())


async def test_a_withdrawal_reaches_webhook_and_mail_subscribers_in_their_language(
    make_client: Any, publish: Any, tenant: str, tmp_path: Path
) -> None:
    with SmtpServer(tmp_path) as server:
        async with make_client(**smtp_settings(server)) as client, Receiver() as receiver:
            hook = await _subscribe(
                client, name="agreement news", event_types=["slm.agreements.agreement.*"],
                target={"url": receiver.url()}, filters={"service_key": "payments"},
            )  # fmt: skip
            await _subscribe(
                client, name="other service", event_types=["slm.agreements.agreement.*"],
                target={"url": receiver.url("/other")}, filters={"service_key": "search"},
            )  # fmt: skip
            for language in LANGUAGES:
                to = f"{language}@example.com"
                await _subscribe(
                    client, name=f"withdrawals {language}", channel="email", language=language,
                    event_types=[EVENTS.agreement_withdrawn.type], target={"to": [to]},
                )  # fmt: skip
            await publish(EVENTS.agreement_withdrawn.build(tenant="someone-else", data=WITHDRAWN))
            event = await publish(EVENTS.agreement_withdrawn.build(tenant=tenant, data=WITHDRAWN))

            (request,) = await receiver.wait_for(1)
            assert request.path == "/hook"
            body = Webhook(hook["secret"]).verify(request.body, request.headers)
            assert body["type"] == "slm.agreements.agreement.withdrawn.v1"
            assert body["data"]["event_id"] == event.id and body["data"]["tenant"] == tenant
            assert body["data"]["agreement_id"] == "agr-1" and body["data"]["state"] == "withdrawn"

            told = {m.rcpt_tos[0]: m.message for m in await mails(server, len(LANGUAGES))}
            en, pl = told["en@example.com"], told["pl@example.com"]
            assert en["Subject"] == "Amendment withdrawn: Gold for Acme (version 3)"
            assert "was withdrawn and will not take effect" in en.get_body(("plain",)).get_content()
            assert pl["Subject"] == "Aneks wycofany: Gold for Acme (wersja 3)"
            text = pl.get_body(("plain",)).get_content()
            assert "został wycofany i nie wejdzie w życie" in text
            assert "Komentarz: the customer keeps the current terms" in text
            assert "Aneks wycofany" in pl.get_body(("html",)).get_content()
            for language, subject, said in (
                ("pt", "Aditamento retirado: Gold for Acme (versão 3)", "foi retirado e não entrará em vigor"),
                ("es", "Enmienda retirada: Gold for Acme (versión 3)", "se ha retirado y no entrará en vigor"),
                ("ru", "Изменение отозвано: Gold for Acme (версия 3)", "отозвано и не вступит в силу"),
            ):
                mail = told[f"{language}@example.com"]
                assert mail["Subject"] == subject
                text = mail.get_body(("plain",)).get_content()
                assert said in text and "the customer keeps the current terms" in text
                assert subject.split(":")[0] in mail.get_body(("html",)).get_content()
            assert len(receiver.requests) == 1


async def test_withdrawn_is_a_type_a_subscription_may_name(client: httpx.AsyncClient) -> None:
    listed = (await client.get("/v1/event-types")).json()["items"]
    assert EVENTS.agreement_withdrawn.type in [item["type"] for item in listed]
    await _subscribe(
        client,
        name="only withdrawals",
        event_types=[EVENTS.agreement_withdrawn.type],
        target={"url": "https://example.com/h"},
    )
