"""Ingest to breach webhook, end to end through the real stack, against a core NATS round trip.

  ours     : POST /v1/measurements that breaches an objective -> evaluation -> objective.breached in
             the outbox -> relay -> JetStream -> notifier inbox -> signed webhook at a loopback receiver
  baseline : a core NATS request/reply round trip on the same server, sampled between breaches

Each breach uses its own service and SLA, set up through the public APIs first. A breach's time runs from
just before its POST is sent to the receiver having read the whole webhook (stamped by the receiver, in this
process, on the same monotonic clock; the bench's own wake-up is not counted, it is shown as its own stage).

Three passes, printed apart:
  warm, quiet stack : `--breaches`, each `--gap` seconds (1 s) after the previous breach's webhook, to a receiver
                      that keeps connections alive (HTTP/1.1). By then the stack has finished what the previous
                      breach caused besides its webhook (its burn alerts' webhooks, the improvement action the
                      agreements service opens and its events, measurement reading its own breach), and the
                      notifier's HTTP pool still has the connection open (it drops idle ones after 5 s): a breach
                      arriving at a stack that is not busy with another one, the usual case.
  warm, back to back: `--breaches` more, each POSTed as soon as the previous breach's webhook arrived, while that
                      breach's other events are still being processed on the same cores: breaches in a burst.
  cold connection   : `--cold` more, `--gap` apart, to a receiver that closes each connection (HTTP/1.0): every
                      webhook opens a TCP connection, as the first one after more than 5 s without webhooks does.
Prints p50 / p99 (with few samples the p99 is the worst one). Goal: p50 < 50 ms, p99 < 200 ms.

Run: .venv/bin/python bench/breach_bench.py [--database sqlite|postgresql|both] [--breaches 20] [--cold 6] [--gap 1]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from datetime import UTC, datetime, timedelta

import httpx
import nats
from benchlib import stages
from benchlib.stack import databases, running_stack, token
from benchlib.stats import percentile
from nats.aio.msg import Msg

from slm_shared.contracts.registry import EVENTS
from tools.receiver import Received, WebhookReceiver
from tools.scenario import Scenario


def setup(scenario: Scenario, breaches: int, url: str) -> tuple[list[str], str]:
    """One service, Gold offering and active SLA per breach; returns the service keys and the subscription."""
    subscription = scenario.subscribe(url)
    party = scenario.call("POST", "agreements", "/v1/parties", 201, json={"name": "Bench Customer", "kind": "customer"})
    customer = token("customer", party=party["id"])
    keys, agreements = [], []
    for n in range(breaches):
        service = scenario.call(
            "POST", "catalog", "/v1/services", 201, json={"key": f"svc-{n}", "name": f"Service {n}", "type": "business"}
        )
        target = {"indicator": "availability", "target": 0.999, "window": {"kind": "rolling", "duration": "30d"}}
        body = {"name": "Gold", "price": {"amount": "10.00", "currency": "EUR", "period": "month"}, "targets": [target]}
        offering = scenario.call("POST", "catalog", f"/v1/services/{service['id']}/offerings", 201, json=body)
        scenario.call("POST", "catalog", f"/v1/offerings/{offering['id']}/publish", 200)
        body = {
            "kind": "SLA",
            "name": f"SLA {n}",
            "service_id": service["id"],
            "offering_id": offering["id"],
            "consumer_party_id": party["id"],
        }
        agreement = scenario.call("POST", "agreements", "/v1/agreements", 201, json=body)
        for path, who in (("propose", None), ("accept", None), ("accept", customer), ("activate", None)):
            scenario.call("POST", "agreements", f"/v1/agreements/{agreement['id']}/{path}", 200, token=who)
        keys.append(service["key"])
        agreements.append(agreement["id"])
    for agreement_id in agreements:
        scenario.wait_for_objective(agreement_id)
    return keys, subscription["id"]


def breaching_points(key: str) -> list[dict[str, object]]:
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    return [
        {
            "service": key,
            "indicator": "availability",
            "timestamp": (now - timedelta(minutes=i)).isoformat(),
            "good": 950,
            "total": 1000,
        }
        for i in range(5)
    ]


def is_breach_of(received: Received, key: str) -> bool:
    body = received.json()
    return bool(body.get("type") == EVENTS.objective_breached.type and body.get("data", {}).get("service_key") == key)


def wait_for_breach(receiver: WebhookReceiver, key: str, timeout: float) -> Received | None:
    """Block until the breach webhook of service `key` has arrived (burn alerts and others do not count)."""

    def breach() -> Received | None:
        return next((r for r in receiver.received if is_breach_of(r, key)), None)

    with receiver.arrived:
        return receiver.arrived.wait_for(breach, timeout=timeout)


async def nats_round_trip(nc: nats.NATS) -> float:
    started = time.perf_counter()
    await nc.request("bench.echo", b"ping", timeout=5)
    return time.perf_counter() - started


PASSES = (
    ("quiet", "warm, quiet stack"),
    ("burst", "warm, back to back"),
    ("cold", "cold connection"),
)


async def bench(database: str, breaches: int, cold: int, gap: float) -> None:
    posted: dict[str, float] = {}
    arrived: dict[str, tuple[float, float]] = {}  # service key -> (at the receiver, seen by the bench)
    plan = ["quiet"] * breaches + ["burst"] * breaches + ["cold"] * cold
    with running_stack(database) as (stack, urls):
        warm_receiver = WebhookReceiver(keep_alive=True).start()
        cold_receiver = WebhookReceiver().start()  # HTTP/1.0: the connection is closed after each webhook
        try:
            scenario = Scenario(
                {s: stack.url(s) for s in ("catalog", "agreements", "measurement", "notifier")}, tenant="bench"
            )
            keys, subscription_id = setup(scenario, len(plan), warm_receiver.url)
            nc = await nats.connect(stack.nats_url, **stack.nats_options())

            async def echo(message: Msg) -> None:
                await message.respond(message.data)

            responder = await nc.subscribe("bench.echo", cb=echo)
            ingest = {"Authorization": f"Bearer {token('ingest')}"}
            ours: dict[str, list[float]] = {name: [] for name, _ in PASSES}
            answered: dict[str, list[float]] = {name: [] for name, _ in PASSES}
            rtt = []
            async with httpx.AsyncClient(base_url=stack.url("measurement"), headers=ingest, timeout=30) as client:
                for _ in range(3):
                    rtt.append(await nats_round_trip(nc))  # warm-up
                for index, (key, name) in enumerate(zip(keys, plan, strict=True)):
                    receiver = cold_receiver if name == "cold" else warm_receiver
                    if name == "cold" and plan[index - 1] != "cold":  # the same subscription, now to the closing one
                        scenario.call(
                            "PATCH", "notifier", f"/v1/subscriptions/{subscription_id}", 200,
                            json={"target": {"url": cold_receiver.url}},
                        )  # fmt: skip
                    rtt.append(await nats_round_trip(nc))
                    if name != "burst":
                        await asyncio.sleep(gap)  # what the previous breach caused has been done
                    started = time.perf_counter()
                    posted[key] = time.time()  # the services' stored timestamps are wall clock
                    response = await client.post("/v1/measurements", json=breaching_points(key))
                    assert response.status_code == 202, response.text
                    answered[name].append((time.perf_counter() - started) * 1000)
                    webhook = await asyncio.to_thread(wait_for_breach, receiver, key, 30)
                    if webhook is None:
                        raise SystemExit(f"no webhook for breach {index + 1} within 30 s")
                    arrived[key] = (webhook.arrived_at, time.time())
                    ours[name].append(webhook.arrived_perf - started)  # one monotonic clock
            rtt = rtt[3:]
            spent = {
                name: await stages.breakdown(
                    urls, posted, {k: arrived[k] for k, n in zip(keys, plan, strict=True) if n == name}
                )
                for name, _ in PASSES
            }
            await responder.unsubscribe()
            await nc.close()
        finally:
            warm_receiver.stop()
            cold_receiver.stop()
    b50, b99 = percentile(rtt, 0.5) * 1000, percentile(rtt, 0.99) * 1000
    print(
        f"\n{database}: {breaches} breaches on a warm connection {gap:g} s apart, {breaches} back to back, "
        f"then {cold} on cold connections {gap:g} s apart, one at a time"
    )
    for name, label in PASSES:
        if ours[name]:
            p50, p99 = percentile(ours[name], 0.5) * 1000, percentile(ours[name], 0.99) * 1000
            goal = "(goal p50 < 50, p99 < 200)"
            print(f"  ingest -> webhook, {label:<19} p50 {p50:7.1f} ms   p99 {p99:7.1f} ms   {goal}")
    print(f"  core NATS round trip                    p50 {b50:7.2f} ms   p99 {b99:7.2f} ms")
    p50, p99 = percentile(ours["quiet"], 0.5) * 1000, percentile(ours["quiet"], 0.99) * 1000
    print(f"  ratio warm, quiet / NATS round trip     p50 {p50 / b50:7.0f} x    p99 {p99 / b99:7.0f} x")
    for name, label in PASSES:
        if not ours[name]:
            continue
        print(f"  where the time goes, {label} (from the services' own timestamps):")
        median, worst = statistics.median(answered[name]), max(answered[name])
        print(f"    {'ingest request answered':<30} median {median:7.1f} ms   max {worst:7.1f} ms")
        stages.report(spent[name])


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument(
        "--breaches", type=int, default=20, help="breaches on a warm (kept-alive) connection, in each of two passes"
    )
    parser.add_argument("--cold", type=int, default=6, help="breaches after them, each on a new connection")
    parser.add_argument("--gap", type=float, default=1.0, help="seconds between breaches, except back to back")
    args = parser.parse_args()
    if not 0 <= args.gap < 5:
        parser.error("--gap must be at least 0 and below 5 s (the notifier's pool drops connections idle for 5 s)")
    for database in databases(args.database):
        await bench(database, args.breaches, args.cold, args.gap)


if __name__ == "__main__":
    asyncio.run(main())
