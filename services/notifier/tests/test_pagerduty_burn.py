"""PagerDuty hears of burn-rate tiers: trigger while one fires, resolve when it stops, one dedup key per tier."""

from __future__ import annotations

from conftest import STOPPED, WHEN, burn_alert
from fakes import pagerduty, serving

from slm_notifier.channels import OutgoingMessage, SafeHttp, TicketStore
from slm_notifier.itsm.pagerduty import PagerDutyChannel
from slm_notifier.messages import Renderer

EVENT = "slm.measurement.objective.burn_alert.v1"


def burn(tier: str, *, firing: bool) -> OutgoingMessage:
    data = burn_alert(tier=tier, **({} if firing else STOPPED)).model_dump(mode="json")
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


async def test_a_firing_tier_triggers_and_its_end_resolves_per_tier(http: SafeHttp, tickets: TicketStore) -> None:
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
