"""PagerDuty hears of burn-rate tiers: trigger while one fires, resolve when it stops, one dedup key per tier."""

from __future__ import annotations

from typing import Any

from fakes import pagerduty, serving
from test_channels import WHEN, http, tickets  # noqa: F401 (fixtures)

from slm_notifier.channels import OutgoingMessage, SafeHttp, TicketStore
from slm_notifier.itsm.pagerduty import PagerDutyChannel
from slm_notifier.messages import Renderer

EVENT = "slm.measurement.objective.burn_alert.v1"


def burn(tier: str, *, firing: bool) -> OutgoingMessage:
    data: dict[str, Any] = {
        "agreement_id": "agr-1",
        "objective_id": "obj-1",
        "objective_row_id": "row-1",
        "service_key": "ledger",
        "indicator": "availability",
        "tier": tier,
        "severity": "page",
        "firing": firing,
        "long_window": "2h",
        "short_window": "10m",
        "long_burn_rate": 40.0 if firing else 0.5,
        "short_burn_rate": 50.0 if firing else 0.2,
        "threshold_factor": 6.0,
        "budget_share": 0.0179,
        "objective": 0.999,
        "observed_at": WHEN.isoformat(),
    }
    event_id = f"evt-{tier}-{firing}"
    content = Renderer().render(
        event_type=EVENT, event_id=event_id, data=data, language="en", agreement_name="Ledger", ack_url=None
    )
    return OutgoingMessage(
        delivery_id=f"dlv-{event_id}",
        event_id=event_id,
        event_type=EVENT,
        event_time=WHEN,
        tenant="acme",
        payload=data,
        target={},
        secrets=(),
        subscription_id="sub-1",
        content=content,
    )


async def test_a_firing_tier_triggers_and_its_end_resolves_per_tier(http: SafeHttp, tickets: TicketStore) -> None:  # noqa: F811
    async with serving(pagerduty()) as fake:
        channel = PagerDutyChannel(http, tickets)
        target = {"routing_key": "R0UTINGKEY", "url": f"{fake.url}/v2/enqueue"}

        def to_pager(message: OutgoingMessage) -> OutgoingMessage:
            return OutgoingMessage(**{**message.__dict__, "target": target})

        assert (await channel.send(to_pager(burn("fast", firing=True)))).succeeded
        assert (await channel.send(to_pager(burn("slow", firing=True)))).succeeded
        assert await tickets.open_ticket(subscription_id="sub-1", key="agr-1:obj-1:burn:fast") is not None
        assert (await channel.send(to_pager(burn("fast", firing=False)))).succeeded
    await http.close()
    fast, slow, ended = (r.body for r in fake.requests)
    assert (fast["event_action"], fast["dedup_key"]) == ("trigger", "slm:acme:agr-1:obj-1:burn:fast")
    assert fast["routing_key"] == "R0UTINGKEY" and fast["payload"]["component"] == "ledger"
    assert (slow["event_action"], slow["dedup_key"]) == ("trigger", "slm:acme:agr-1:obj-1:burn:slow")
    assert ended == {"routing_key": "R0UTINGKEY", "event_action": "resolve", "dedup_key": fast["dedup_key"]}
    assert await tickets.open_ticket(subscription_id="sub-1", key="agr-1:obj-1:burn:fast") is None
    assert await tickets.open_ticket(subscription_id="sub-1", key="agr-1:obj-1:burn:slow") is not None
