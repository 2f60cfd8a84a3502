"""Internal alerts reach the provider's contacts unless a subscription asks for the customer's; roles
narrow an escalation level and never reach past it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from conftest import agreement_activated, mails, objective_status, smtp_settings
from receivers import Receiver
from smtp_server import SmtpServer

from slm_shared.contracts import EVENTS
from slm_shared.contracts.payloads import PartyChangedV1, PartyContactV1

SLM = "service_level_manager"
CUSTOMER = [
    PartyContactV1(name="Ana", email="ana@customer.example", role="service_level_manager", escalation_level=1),
]
PROVIDER = [
    PartyContactV1(name="Sam", email="sam@provider.example", role="service_level_manager", escalation_level=1),
    PartyContactV1(name="Tia", email="tia@provider.example", role="technical_contact", escalation_level=1),
    PartyContactV1(name="Lee", email="lee@provider.example", role="service_level_manager", escalation_level=3),
]


async def test_internal_alerts_go_to_the_provider_unless_the_customer_is_asked_for(
    make_client: Any, publish: Any, tenant: str, tmp_path: Path
) -> None:
    activated = agreement_activated("agr-1")
    at_risk = EVENTS.objective_at_risk.type
    breached = EVENTS.objective_breached.type
    with SmtpServer(tmp_path) as server:
        async with make_client(**smtp_settings(server)) as client, Receiver() as hook:
            for name, body in (
                ("by default", {"event_types": [at_risk, breached], "target": {"contacts": {"roles": [SLM]}}}),
                ("customer asked", {"event_types": [at_risk], "target": {"contacts": {"party": "consumer"}}}),
            ):  # fmt: skip
                created = await client.post("/v1/subscriptions", json={"name": name, "channel": "email", **body})
                assert created.status_code == 201, created.text
                assert created.json()["target"]["contacts"].get("party") == body["target"]["contacts"].get("party")
            await client.post(
                "/v1/subscriptions",
                json={"name": "seen", "event_types": ["slm.agreements.*"], "target": {"url": hook.url()}},
            )
            for party_id, name, contacts in (("party-acme", "Acme", CUSTOMER), ("party-ops", "Ops", PROVIDER)):
                party = PartyChangedV1(party_id=party_id, name=name, kind="customer", contacts=contacts, version=2)
                await publish(EVENTS.party_updated.build(tenant=tenant, data=party))
            await publish(EVENTS.agreement_activated.build(tenant=tenant, data=activated))
            await hook.wait_for(1)  # the same stream: both parties' contacts are in by now

            await publish(
                EVENTS.objective_at_risk.build(
                    tenant=tenant,
                    data=objective_status(
                        status="at_risk", previous_status="healthy", consumer_party_id="party-acme", severity="warning"
                    ),
                )
            )
            got = sorted(tuple(m.rcpt_tos) for m in await mails(server, 2))
            # the provider's level-1 service level manager, never Lee at level 3 though the role matches;
            # the customer only through the subscription that asks for the consumer's contacts
            assert got == [("ana@customer.example",), ("sam@provider.example",)]

            await publish(
                EVENTS.objective_breached.build(tenant=tenant, data=objective_status(consumer_party_id="party-acme"))
            )
            third = (await mails(server, 3))[2]
            assert third.rcpt_tos == ["ana@customer.example"]  # a breach is the customer's news by default
            assert third.message["Subject"].startswith("Breach: Gold for Acme")
