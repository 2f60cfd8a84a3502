"""A decided proposal is told in the subscription's language: its kind and why the portfolio drafted it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from smtp_server import SmtpServer
from test_escalation import mails, smtp_settings

from slm_shared.contracts import EVENTS
from slm_shared.contracts.payloads import ProposalDecidedV1


async def test_a_decided_proposal_reads_in_the_subscribers_language(
    make_client: Any, publish: Any, tenant: str, tmp_path: Path
) -> None:
    decided = ProposalDecidedV1(
        proposal_id="p-1", agreement_id="agr-1", agreement_name="Gold for Acme", objective_id="obj-1",
        service_key="payments", kind="amendment", decision="accepted",
        reason="missed in 2 of the last 3 periods: renegotiate the target or cover", reason_key="proposal.amendment",
        reason_params={"misses": "2", "periods": "3"}, period="2026-11", decided_by="sam",
        decided_at=datetime.now(UTC),
    )  # fmt: skip
    older = decided.model_copy(update={"proposal_id": "p-2", "reason_key": None, "reason_params": None})
    with SmtpServer(tmp_path) as server:
        async with make_client(**smtp_settings(server)) as client:
            for language, to in (("pt", "pt@example.com"), ("ru", "ru@example.com")):
                created = await client.post(
                    "/v1/subscriptions",
                    json={"name": f"proposals {language}", "channel": "email", "language": language,
                          "event_types": [EVENTS.proposal_decided.type], "target": {"to": [to]}},
                )  # fmt: skip
                assert created.status_code == 201, created.text
            await publish(EVENTS.proposal_decided.build(tenant=tenant, data=decided))
            told = {m.rcpt_tos[0]: m.message for m in await mails(server, 2)}
            pt, ru = told["pt@example.com"], told["ru@example.com"]
            assert pt["Subject"] == "Proposta aceita para Gold for Acme: aditamento"
            assert "Motivo: não cumprido em 2 dos últimos 3 períodos: renegociar a meta ou a cobertura." in (
                pt.get_body(("plain",)).get_content()
            )
            assert ru["Subject"] == "Предложение принято для Gold for Acme: изменение соглашения"
            assert "Причина: не выполнено в 2 из последних 3 периодов" in ru.get_body(("plain",)).get_content()

            await publish(EVENTS.proposal_decided.build(tenant=tenant, data=older))  # drafted before reason keys
            later = {m.rcpt_tos[0]: m.message for m in (await mails(server, 4))[2:]}
            assert "renegotiate the target or cover" in later["pt@example.com"].get_body(("plain",)).get_content()
