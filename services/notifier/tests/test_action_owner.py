"""An improvement action's owner is a contact: told when the action is assigned, and chased by the owner's
party's escalation levels while an overdue action stays unacknowledged."""

from __future__ import annotations

import asyncio
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from conftest import agreement_activated, mails, smtp_settings, wait_until
from receivers import Receiver
from smtp_server import SmtpServer

from slm_shared.contracts import EVENTS
from slm_shared.contracts.payloads import (
    AgreementActivatedV1,
    AgreementStateChangedV1,
    ImprovementActionV1,
    PartyChangedV1,
    PartyContactV1,
)

OPS = [
    PartyContactV1(name="Sam", email="sam@provider.example", role="service_level_manager", escalation_level=1),
    PartyContactV1(name="Tia", email="tia@provider.example", role="technical_contact", escalation_level=1),
    PartyContactV1(name="Bo", email="bo@provider.example", role="business_owner", escalation_level=2),
]


async def test_the_owner_hears_of_the_action_and_an_overdue_one_escalates_by_contact_level(
    make_client: Any, publish: Any, tenant: str, tmp_path: Path
) -> None:
    activated = agreement_activated("agr-1")
    action = ImprovementActionV1(
        action_id="act-1", agreement_id="agr-1", service_key="payments", title="Second card gateway",
        owner="Tia", owner_email="tia@provider.example", owner_party_id="party-ops",
        due_on=date.today() + timedelta(days=3), status="open", source="manual",
    )  # fmt: skip
    with SmtpServer(tmp_path) as server:
        async with make_client(**smtp_settings(server)) as client, Receiver() as hook:
            created = await client.post(
                "/v1/subscriptions",
                json={
                    "name": "action owners", "channel": "email", "escalation_seconds": 1,
                    "event_types": [EVENTS.action_created.type, EVENTS.action_overdue.type],
                    "target": {"contacts": {"roles": ["service_level_manager"]}},
                },
            )  # fmt: skip
            assert created.status_code == 201, created.text
            await client.post(
                "/v1/subscriptions",
                json={"name": "seen", "event_types": ["slm.agreements.agreement.*"], "target": {"url": hook.url()}},
            )
            ops = PartyChangedV1(party_id="party-ops", name="Ops", kind="internal", contacts=OPS, version=2)
            await publish(EVENTS.party_updated.build(tenant=tenant, data=ops))
            await publish(EVENTS.agreement_activated.build(tenant=tenant, data=activated))
            await hook.wait_for(1)

            await publish(EVENTS.action_created.build(tenant=tenant, data=action))
            (assigned,) = await mails(server, 1)
            assert assigned.rcpt_tos == ["tia@provider.example"]  # the owner, not the subscribed role
            assert (await client.get("/v1/notifications")).json()["items"] == []  # assignment is news, not a chase

            late = action.model_copy(update={"due_on": date.today() - timedelta(days=1)})
            first_at = time.monotonic()  # before the chase opens: the mails are polled, so seeing one can lag
            await publish(EVENTS.action_overdue.build(tenant=tenant, data=late))
            second = (await mails(server, 2))[1]
            assert second.rcpt_tos == ["tia@provider.example"]
            (chase,) = (await client.get("/v1/notifications")).json()["items"]
            assert chase["level"] == 1 and chase["state"] == "open"
            third = (await mails(server, 3))[2]
            assert time.monotonic() - first_at >= 0.8, "escalated before the escalation time"
            assert third.rcpt_tos == ["bo@provider.example"]  # the owner's party's next escalation level
            assert third.message["Subject"].startswith("[Escalation level 2]")


async def test_an_overdue_action_is_reminded_past_the_top_level_and_acknowledgement_until_it_is_done(
    make_client: Any, publish: Any, tenant: str, tmp_path: Path
) -> None:
    activated = agreement_activated("agr-2")
    late = ImprovementActionV1(
        action_id="act-2", agreement_id="agr-2", service_key="payments", title="Restore availability of payments",
        owner="Tia", owner_email="tia@provider.example", owner_party_id="party-ops",
        due_on=date.today() - timedelta(days=1), status="open", source="breach",
        title_key="action.restore_indicator", title_params={"indicator": "availability", "service_key": "payments",
                                                            "service_name": "Payments"},
    )  # fmt: skip
    with SmtpServer(tmp_path) as server:
        async with make_client(**smtp_settings(server)) as client:
            await client.post(
                "/v1/subscriptions",
                json={"name": "owners", "channel": "email", "escalation_seconds": 1, "language": "es",
                      "event_types": [EVENTS.action_overdue.type], "target": {"contacts": {"party": "provider"}}},
            )  # fmt: skip
            ops = PartyChangedV1(party_id="party-ops", name="Ops", kind="internal", contacts=OPS, version=2)
            await publish(EVENTS.party_updated.build(tenant=tenant, data=ops))
            await publish(EVENTS.agreement_activated.build(tenant=tenant, data=activated))
            await publish(EVENTS.action_overdue.build(tenant=tenant, data=late))
            first, escalated, reminded = (await mails(server, 3))[:3]
            assert first.rcpt_tos == ["tia@provider.example"]
            assert "Acción vencida: Restablecer el nivel de disponibilidad del servicio Payments" in str(
                first.message["Subject"]
            )
            assert escalated.rcpt_tos == reminded.rcpt_tos == ["bo@provider.example"]  # top level, then again
            (chase,) = (await client.get("/v1/notifications")).json()["items"]
            assert chase["state"] == "open" and chase["action_id"] == "act-2" and chase["reminders"] >= 1

            acknowledged = await client.post(f"/v1/notifications/{chase['id']}/acknowledge")
            assert acknowledged.json()["state"] == "acknowledged"
            count = len(server.mailbox.messages)
            after = (await mails(server, count + 1))[count]
            assert after.rcpt_tos == ["bo@provider.example"]  # still reminded at the acknowledged level

            done = late.model_copy(update={"status": "done"})
            await publish(EVENTS.action_updated.build(tenant=tenant, data=done))

            async def resolved() -> bool:
                return (await client.get(f"/v1/notifications/{chase['id']}")).json()["state"] == "resolved"

            await wait_until(resolved)
            settled = len(server.mailbox.messages)
            await asyncio.sleep(2.5)  # more than two escalation intervals
            assert len(server.mailbox.messages) <= settled + 1  # at most one reminder already queued


async def test_a_chase_ends_after_its_reminders_when_the_agreement_ends_or_the_subscription_goes(
    make_client: Any, publish: Any, tenant: str, tmp_path: Path
) -> None:
    def agreement(agreement_id: str) -> AgreementActivatedV1:
        return agreement_activated(agreement_id, name="Gold")

    def overdue(action_id: str, agreement_id: str) -> ImprovementActionV1:
        return ImprovementActionV1(
            action_id=action_id, agreement_id=agreement_id, service_key="payments", title="Fix it", owner="Tia",
            owner_email="tia@provider.example", owner_party_id="party-ops",
            due_on=date.today() - timedelta(days=1), status="open", source="manual",
        )  # fmt: skip

    with SmtpServer(tmp_path) as server:
        async with make_client(**smtp_settings(server), chase_max_reminders=2) as client:
            created = await client.post(
                "/v1/subscriptions",
                json={"name": "owners", "channel": "email", "escalation_seconds": 1,
                      "event_types": [EVENTS.action_overdue.type, EVENTS.agreement_terminated.type],
                      "target": {"contacts": {"party": "provider"}}},
            )  # fmt: skip
            ops = PartyChangedV1(party_id="party-ops", name="Ops", kind="internal", contacts=OPS, version=2)
            await publish(EVENTS.party_updated.build(tenant=tenant, data=ops))
            for agreement_id in ("agr-cap", "agr-ends"):
                await publish(EVENTS.agreement_activated.build(tenant=tenant, data=agreement(agreement_id)))

            async def chase_of(action_id: str) -> dict[str, Any] | None:
                items = (await client.get("/v1/notifications")).json()["items"]
                return next((n for n in items if n.get("action_id") == action_id), None)

            # Reminded at most twice past the top level, then the chase ends as exhausted.
            await publish(EVENTS.action_overdue.build(tenant=tenant, data=overdue("act-cap", "agr-cap")))

            async def exhausted() -> bool:
                chase = await chase_of("act-cap")
                return chase is not None and chase["state"] == "exhausted"

            await wait_until(exhausted)
            assert (await chase_of("act-cap"))["reminders"] == 2  # type: ignore[index]

            # The agreement is terminated: its action is chased no more.
            await publish(EVENTS.action_overdue.build(tenant=tenant, data=overdue("act-ends", "agr-ends")))

            async def chased() -> bool:
                return await chase_of("act-ends") is not None

            await wait_until(chased)
            ended = AgreementStateChangedV1(
                agreement_id="agr-ends", version=1, kind="SLA", name="Gold", service_id="s", service_key="payments",
                provider_party_id="party-ops", consumer_party_id="party-acme", state="terminated",
            )  # fmt: skip
            await publish(EVENTS.agreement_terminated.build(tenant=tenant, data=ended))

            async def resolved() -> bool:
                chase = await chase_of("act-ends")
                return chase is not None and chase["state"] == "resolved"

            await wait_until(resolved)

            # A deleted subscription escalates nothing any more.
            await publish(EVENTS.action_overdue.build(tenant=tenant, data=overdue("act-del", "agr-cap")))

            async def chasing() -> bool:
                chase = await chase_of("act-del")
                return chase is not None and chase["state"] == "open"

            await wait_until(chasing)
            assert (await client.delete(f"/v1/subscriptions/{created.json()['id']}")).status_code == 204
            assert (await chase_of("act-del"))["state"] == "resolved"  # type: ignore[index]
