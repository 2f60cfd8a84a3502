"""The objective's newest status and the agreement's facts fan-out needs come from one statement."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from slm_notifier import repository
from slm_notifier.models import AgreementView
from slm_shared.db import Database
from slm_shared.migrations import upgrade

WHEN = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


async def test_newest_status_carries_the_agreements_parties_and_escalation_time(database_url: str) -> None:
    await upgrade("slm_notifier", database_url)
    db = Database(database_url)
    try:
        async with db.session() as session:
            session.add(
                AgreementView(
                    tenant="t1", agreement_id="agr-1", version=1, kind="sla", name="Gold", service_key="payments",
                    consumer_party_id="party-c", provider_party_id="party-p", escalation_seconds=900,
                )
            )  # fmt: skip
            # the same agreement id in another tenant is not this one
            session.add(
                AgreementView(
                    tenant="t2", agreement_id="agr-2", version=1, kind="sla", name="Other", service_key="payments",
                    consumer_party_id="party-x", provider_party_id="party-y", escalation_seconds=60,
                )
            )  # fmt: skip

        async def newest(agreement_id: str, observed_at: datetime, objective_id: str = "obj-1") -> object:
            async with db.session() as session:
                return await repository.newest_status(
                    session, tenant="t1", agreement_id=agreement_id, objective_id=objective_id,
                    status="breached", observed_at=observed_at,
                )  # fmt: skip

        known = await newest("agr-1", WHEN)
        assert known is not None
        assert (known.consumer_party_id, known.provider_party_id, known.escalation_seconds) == (
            "party-c",
            "party-p",
            900,
        )
        later = await newest("agr-1", WHEN + timedelta(minutes=1))  # updated: the facts again
        assert later is not None and later.provider_party_id == "party-p"
        assert await newest("agr-1", WHEN) is None  # older than the one seen: out of date, nothing else
        unknown = await newest("agr-2", WHEN)  # t1 has no agr-2 (t2's is not read)
        assert unknown is not None
        assert (unknown.consumer_party_id, unknown.provider_party_id, unknown.escalation_seconds) == (None, None, None)
    finally:
        await db.dispose()
