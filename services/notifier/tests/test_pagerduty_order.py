"""A trigger retried after its resolve was sent is superseded, not sent: PagerDuty keeps the incident resolved."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from conftest import STOPPED, burn_alert, delivery_in, wait_until
from fakes import pagerduty, serving

from slm_shared.contracts import EVENTS
from slm_shared.contracts.payloads import BurnAlertV1

BURN = "slm.measurement.objective.burn_alert.v1"


def burn(*, firing: bool, observed_at: datetime) -> BurnAlertV1:
    return burn_alert(observed_at=observed_at, **({} if firing else STOPPED))


async def test_a_trigger_retried_after_its_resolve_is_superseded(make_client: Any, publish: Any, tenant: str) -> None:
    retried_slowly = {"retry_base_seconds": 0.4, "retry_max_seconds": 0.8, "max_attempts": 30}
    async with serving(pagerduty()) as fake, make_client(**retried_slowly) as client:
        target = {"routing_key": "R0UTINGKEY", "url": f"{fake.url}/v2/enqueue"}
        body = {"name": "on call", "event_types": [BURN], "channel": "pagerduty", "target": target}
        assert (await client.post("/v1/subscriptions", json=body)).status_code == 201
        fake.state["refuse_triggers"] = True
        started = datetime.now(UTC)
        fired = await publish(
            EVENTS.objective_burn_alert.build(tenant=tenant, data=burn(firing=True, observed_at=started))
        )

        def sent(action: str) -> list[Any]:
            return [r for r in fake.requests if r.body and r.body["event_action"] == action]

        async def refused_once() -> bool:
            return len(sent("trigger")) >= 1

        await wait_until(refused_once)
        later = started + timedelta(minutes=5)
        stopped = await publish(
            EVENTS.objective_burn_alert.build(tenant=tenant, data=burn(firing=False, observed_at=later))
        )

        async def delivery_of(event_id: str) -> dict[str, Any]:
            found: list[dict[str, Any]] = []

            async def listed() -> bool:
                items = (await client.get("/v1/deliveries", params={"event_type": BURN})).json()["items"]
                found[:] = [d for d in items if d["event_id"] == event_id]
                return bool(found)

            await wait_until(listed)
            return found[0]

        resolved = await delivery_in(client, (await delivery_of(stopped.id))["id"], "succeeded")
        assert resolved["status"] == "succeeded"
        fake.state["refuse_triggers"] = False  # PagerDuty would now take the trigger and open the incident again
        trigger = await delivery_in(client, (await delivery_of(fired.id))["id"], "superseded", "succeeded", "dead")

    assert trigger["status"] == "superseded"
    assert "superseded" in (trigger["last_error"] or "")
    actions = [r.body["event_action"] for r in fake.requests]
    assert actions[-1] == "resolve" and actions.count("resolve") == 1
    assert [a["status_code"] for a in trigger["attempts"]][-2:] == [500, None]
    assert len(trigger["attempts"]) == actions.count("trigger") + 1  # the last attempt sent nothing


async def test_the_resolve_is_still_sent_after_its_trigger(make_client: Any, publish: Any, tenant: str) -> None:
    async with serving(pagerduty()) as fake, make_client() as client:
        target = {"routing_key": "R0UTINGKEY", "url": f"{fake.url}/v2/enqueue"}
        body = {"name": "on call", "event_types": [BURN], "channel": "pagerduty", "target": target}
        assert (await client.post("/v1/subscriptions", json=body)).status_code == 201
        started = datetime.now(UTC)
        await publish(EVENTS.objective_burn_alert.build(tenant=tenant, data=burn(firing=True, observed_at=started)))

        async def sent(count: int) -> bool:
            return len(fake.requests) >= count

        await wait_until(lambda: sent(1))
        later = started + timedelta(minutes=5)
        await publish(EVENTS.objective_burn_alert.build(tenant=tenant, data=burn(firing=False, observed_at=later)))
        await wait_until(lambda: sent(2))
    assert [r.body["event_action"] for r in fake.requests] == ["trigger", "resolve"]
