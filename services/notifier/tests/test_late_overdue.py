"""An `action.overdue` that arrives after the action was done, cancelled or given a later due date (events
out of order) opens no chase and sends nothing; an overdue that is still current is chased as before."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from smtp_server import SmtpServer
from test_escalation import mails, smtp_settings

from slm_shared.contracts import EVENTS
from slm_shared.contracts.payloads import (
    AgreementActivatedV1,
    ImprovementActionV1,
    PartyChangedV1,
    PartyContactV1,
)

SAM = PartyContactV1(name="Sam", email="sam@provider.example", role="service_level_manager", escalation_level=1)
YESTERDAY = date.today() - timedelta(days=1)


def _action(action_id: str, **changes: Any) -> ImprovementActionV1:
    base = ImprovementActionV1(
        action_id=action_id, agreement_id="agr-late", service_key="payments", title=f"Fix {action_id}",
        owner="Sam", owner_email="sam@provider.example", owner_party_id="party-ops", due_on=YESTERDAY,
        status="open", source="manual", revision=2,
    )  # fmt: skip
    return base.model_copy(update=changes)


async def test_an_overdue_told_after_the_action_closed_or_moved_opens_no_chase(
    make_client: Any, publish: Any, tenant: str, tmp_path: Path
) -> None:
    activated = AgreementActivatedV1(
        agreement_id="agr-late", version=1, kind="SLA", name="Gold for Acme", service_id="s", service_key="payments",
        provider_party_id="party-ops", effective_from=datetime.now().astimezone(), objectives=[],
    )  # fmt: skip
    with SmtpServer(tmp_path) as server:
        async with make_client(**smtp_settings(server)) as client:
            created = await client.post(
                "/v1/subscriptions",
                json={"name": "owners", "channel": "email", "escalation_seconds": 1,
                      "event_types": [EVENTS.action_overdue.type], "target": {"contacts": {"party": "provider"}}},
            )  # fmt: skip
            assert created.status_code == 201, created.text
            ops = PartyChangedV1(party_id="party-ops", name="Ops", kind="internal", contacts=[SAM], version=2)
            await publish(EVENTS.party_updated.build(tenant=tenant, data=ops))
            await publish(EVENTS.agreement_activated.build(tenant=tenant, data=activated))

            # Each overdue (revision 2) is delivered after the update that overtook it (revision 3).
            for action_id, later in (
                ("done", {"status": "done"}),
                ("cancelled", {"status": "cancelled"}),
                ("moved", {"due_on": date.today() + timedelta(days=7)}),
            ):
                updated = _action(action_id, revision=3, **later)
                await publish(EVENTS.action_updated.build(tenant=tenant, data=updated))
                await publish(EVENTS.action_overdue.build(tenant=tenant, data=_action(action_id)))
            # An event from before revisions, of an action known to be done, is no news either.
            await publish(EVENTS.action_overdue.build(tenant=tenant, data=_action("done", revision=None)))
            # The control: an overdue nothing overtook is chased (and, told last, shows the others were consumed).
            await publish(EVENTS.action_overdue.build(tenant=tenant, data=_action("current")))

            (first,) = await mails(server, 1)
            assert first.rcpt_tos == ["sam@provider.example"] and "Fix current" in str(first.message["Subject"])
            chases = (await client.get("/v1/notifications")).json()["items"]
            assert [(c["action_id"], c["state"]) for c in chases] == [("current", "open")]
            await asyncio.sleep(1.5)  # past one escalation interval: only the current chase is reminded
            subjects = [str(m.message["Subject"]) for m in server.mailbox.messages]
            assert subjects and all("Fix current" in s for s in subjects), subjects
            listed = (await client.get("/v1/deliveries", params={"limit": 50})).json()["items"]
            told = [(await client.get(f"/v1/deliveries/{d['id']}")).json()["payload"]["action_id"] for d in listed]
            assert set(told) == {"current"}
