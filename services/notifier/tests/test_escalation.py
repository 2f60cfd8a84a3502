"""Contacts by role, escalation of unacknowledged breaches, acknowledgement by API and by signed link."""

from __future__ import annotations

import asyncio
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from conftest import mails, objective_status, smtp_settings, wait_until
from fakes import agreements, serving
from receivers import Receiver
from smtp_server import SmtpServer

from slm_shared.contracts import EVENTS
from slm_shared.contracts.payloads import AgreementActivatedV1, PartyChangedV1, PartyContactV1
from slm_shared.testing.pytest_plugin import make_token

CONTACTS = [
    PartyContactV1(name="Sam", email="slm@acme.example", role="service_level_manager", escalation_level=1),
    PartyContactV1(name="Bo", email="boss@acme.example", role="business_owner", escalation_level=2),
    PartyContactV1(name="Cy", email="ceo@acme.example", role="business_owner", escalation_level=3),
]


async def email_subscription(client: httpx.AsyncClient, **extra: Any) -> dict[str, Any]:
    body = {
        "name": "customer SLMs",
        "channel": "email",
        "event_types": ["slm.measurement.objective.breached.v1"],
        "target": {"contacts": {"party": "consumer", "roles": ["service_level_manager"]}},
        **extra,
    }
    created = await client.post("/v1/subscriptions", json=body)
    assert created.status_code == 201, created.text
    return created.json()


async def test_unacknowledged_breach_escalates_until_the_signed_link_is_used(
    make_client: Any, publish: Any, tenant: str, tmp_path: Path
) -> None:
    party = PartyChangedV1(party_id="party-acme", name="Acme", kind="customer", contacts=CONTACTS, version=2)
    now = datetime.now().astimezone()
    activated = AgreementActivatedV1(
        agreement_id="agr-1",
        version=1,
        kind="SLA",
        name="Gold for Acme",
        service_id="s",
        service_key="payments",
        consumer_party_id="party-acme",
        effective_from=now,
        objectives=[],
    )
    with SmtpServer(tmp_path) as server:
        async with make_client(**smtp_settings(server)) as client, Receiver() as hook:
            await email_subscription(client, escalation_seconds=1)
            await client.post(
                "/v1/subscriptions",
                json={"name": "seen", "event_types": ["slm.agreements.*"], "target": {"url": hook.url()}},
            )
            await publish(EVENTS.party_updated.build(tenant=tenant, data=party))
            await publish(EVENTS.agreement_activated.build(tenant=tenant, data=activated))
            await hook.wait_for(1)  # the same stream: the party's contacts are in by now
            await publish(EVENTS.objective_breached.build(tenant=tenant, data=objective_status(consumer_party_id=None)))

            (first,) = await mails(server, 1)
            assert first.rcpt_tos == ["slm@acme.example"]
            assert first.message["Subject"].startswith("Breach: Gold for Acme / availability")
            (notification,) = (await client.get("/v1/notifications")).json()["items"]
            assert notification["level"] == 1 and notification["state"] == "open"

            second = (await mails(server, 2))[1]
            # Escalated once a second (escalation_seconds) has passed since the notification was made: the mail
            # server's acceptance instant, so a slow first mail under load does not shorten the interval seen.
            created = datetime.fromisoformat(notification["created_at"]).timestamp()
            assert second.at - created >= 1.0 - 0.01, "escalated before the escalation time"
            assert second.rcpt_tos == ["boss@acme.example"]
            assert second.message["Subject"].startswith("[Escalation level 2] Breach: Gold for Acme")
            text = second.message.get_body(preferencelist=("plain",)).get_content()
            link = re.search(r"http://testserver(/v1/notifications/\S+)", text)
            assert link is not None, text

            page = await client.get(link.group(1), headers={"Authorization": ""})
            assert page.status_code == 200 and "<form method='post'" in page.text
            forged = link.group(1)[:-4] + "0000"
            assert (await client.post(forged, headers={"Authorization": ""})).status_code == 403
            done = await client.post(link.group(1), headers={"Authorization": ""})
            assert done.status_code == 200 and "Acknowledged" in done.text

            acknowledged = (await client.get(f"/v1/notifications/{notification['id']}")).json()
            assert acknowledged["state"] == "acknowledged" and acknowledged["level"] == 2
            assert acknowledged["acknowledged_by"] == "signed-link" and acknowledged["escalate_at"] is None
            await asyncio.sleep(1.5)  # past the next escalation time: nobody else hears of it
            assert [m.rcpt_tos for m in server.mailbox.messages] == [["slm@acme.example"], ["boss@acme.example"]]
            deliveries = (
                await client.get("/v1/deliveries", params={"event_type": EVENTS.objective_breached.type})
            ).json()
            assert sorted(d["escalation_level"] for d in deliveries["items"]) == [1, 2]


async def test_contacts_fetched_from_agreements_and_acknowledged_by_api(
    make_client: Any, publish: Any, tenant: str, tmp_path: Path
) -> None:
    party = {"name": "Beta", "contacts": [c.model_dump() for c in CONTACTS]}
    with SmtpServer(tmp_path) as server:
        async with (
            serving(agreements({"party-beta": party})) as fake,
            make_client(**smtp_settings(server), agreements_url=fake.url) as client,
        ):
            await email_subscription(client, target={"to": ["noc@provider.example"], "contacts": {"roles": []}})
            breach = objective_status(agreement_id="agr-2", objective_id="obj-2", consumer_party_id="party-beta")
            await publish(EVENTS.objective_breached.build(tenant=tenant, data=breach))
            (mail,) = await mails(server, 1)
            assert mail.rcpt_tos == ["noc@provider.example", "slm@acme.example"]
            assert fake.state["tenants"] == [tenant]

            (notification,) = (await client.get("/v1/notifications", params={"state": "open"})).json()["items"]
            other = {"Authorization": f"Bearer {make_token(tenant, ('customer',), party='party-other')}"}
            path = f"/v1/notifications/{notification['id']}/acknowledge"
            assert (await client.post(path, headers=other)).status_code == 404
            own = {"Authorization": f"Bearer {make_token(tenant, ('customer',), party='party-beta')}"}
            acknowledged = await client.post(path, headers=own)
            assert acknowledged.status_code == 200 and acknowledged.json()["state"] == "acknowledged"
            assert (await client.post(path)).json()["state"] == "acknowledged"
            stranger = {"Authorization": f"Bearer {make_token('globex')}"}
            assert (await client.get("/v1/notifications", headers=stranger)).json()["total"] == 0

            again = objective_status(agreement_id="agr-2", objective_id="obj-3", consumer_party_id="party-beta")
            await publish(EVENTS.objective_breached.build(tenant=tenant, data=again))
            await mails(server, 2)
            recovered = objective_status(
                agreement_id="agr-2", objective_id="obj-3", consumer_party_id="party-beta", status="recovered"
            )
            await publish(EVENTS.objective_recovered.build(tenant=tenant, data=recovered))

            listed: dict[str, Any] = {}

            async def resolved() -> bool:
                nonlocal listed
                listed = (await client.get("/v1/notifications", params={"state": "resolved"})).json()
                return listed["total"] == 1

            await wait_until(resolved)
            late = await client.post(f"/v1/notifications/{listed['items'][0]['id']}/acknowledge")
            assert late.status_code == 409 and late.headers["content-type"] == "application/problem+json"


async def test_a_failed_contact_lookup_is_retried_and_shown_not_exhausted(
    make_client: Any, publish: Any, tenant: str, tmp_path: Path
) -> None:
    party = {"name": "Beta", "contacts": [c.model_dump() for c in CONTACTS]}
    fake_agreements = agreements({"party-beta": party})
    fake_agreements.state["down"] = True
    with SmtpServer(tmp_path) as server:
        async with (
            serving(fake_agreements) as fake,
            make_client(
                **smtp_settings(server),
                agreements_url=fake.url,
                contact_retry_seconds=0.2,
                max_attempts=200,
                retry_max_seconds=0.3,
            ) as client,
        ):
            await email_subscription(client, escalation_seconds=1)
            breach = objective_status(agreement_id="agr-9", objective_id="obj-9", consumer_party_id="party-beta")
            await publish(EVENTS.objective_breached.build(tenant=tenant, data=breach))

            seen: dict[str, Any] = {}

            async def lookup_failed_twice() -> bool:
                items = (await client.get("/v1/notifications")).json()["items"]
                seen.update(items[0] if items else {})
                return bool(items) and items[0]["lookup_failures"] >= 2

            await wait_until(lookup_failed_twice, timeout=20)
            assert seen["state"] == "open" and seen["level"] == 1, seen
            assert "contact lookup failed" in seen["escalation_error"] and "503" in seen["escalation_error"]
            (first,) = (await client.get("/v1/deliveries")).json()["items"]
            assert "503" in (first["last_error"] or ""), first  # level 1 waits for the contacts too
            assert not server.mailbox.messages

            fake.state["down"] = False

            async def told_level_one_and_two() -> bool:
                told = {r for m in server.mailbox.messages for r in m.rcpt_tos}
                return {"slm@acme.example", "boss@acme.example"} <= told

            await wait_until(told_level_one_and_two, timeout=20)
            (notification,) = (await client.get("/v1/notifications")).json()["items"]
            assert notification["level"] >= 2 and notification["escalation_error"] is None  # level 3 may follow
