"""Ingest to breach webhook, end to end through the real stack, against a core NATS round trip.

  ours     : POST /v1/measurements that breaches an objective -> evaluation -> objective.breached in
             the outbox -> relay -> JetStream -> notifier inbox -> signed webhook at a loopback receiver
  baseline : a core NATS request/reply round trip on the same server, sampled between breaches

Each breach uses its own service and SLA, set up through the public APIs first. A breach's time runs from
just before its POST is sent to the receiver having read the whole webhook (stamped by the receiver, in this
process, on the same monotonic clock; the bench's own wake-up is not counted, it is shown as its own stage).

Two passes, printed apart:
  warm connection : the first `--breaches`, to a receiver that keeps connections alive (HTTP/1.1). Breaches
                    here come back to back, so the notifier's HTTP pool always has the connection open: the
                    case of a receiver that got a webhook in the last 5 s (the pool drops idle ones then).
  cold connection : `--cold` more, to a receiver that closes each connection (HTTP/1.0): every webhook opens a
                    TCP connection, as the first one after more than 5 s without webhooks does.
Prints p50 / p99 (with few samples the p99 is the worst one). Goal: p50 < 50 ms, p99 < 200 ms.

Run: .venv/bin/python bench/breach_bench.py [--database sqlite|postgresql|both] [--breaches 20] [--cold 6]
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


async def bench(database: str, breaches: int, cold: int) -> None:
    posted: dict[str, float] = {}
    arrived: dict[str, tuple[float, float]] = {}  # service key -> (at the receiver, seen by the bench)
    with running_stack(database) as (stack, urls):
        warm_receiver = WebhookReceiver(keep_alive=True).start()
        cold_receiver = WebhookReceiver().start()  # HTTP/1.0: the connection is closed after each webhook
        try:
            scenario = Scenario(
                {s: stack.url(s) for s in ("catalog", "agreements", "measurement", "notifier")}, tenant="bench"
            )
            keys, subscription_id = setup(scenario, breaches + cold, warm_receiver.url)
            nc = await nats.connect(stack.nats_url, **stack.nats_options())

            async def echo(message: Msg) -> None:
                await message.respond(message.data)

            responder = await nc.subscribe("bench.echo", cb=echo)
            ingest = {"Authorization": f"Bearer {token('ingest')}"}
            ours: dict[str, list[float]] = {"warm": [], "cold": []}
            rtt, answered = [], []
            async with httpx.AsyncClient(base_url=stack.url("measurement"), headers=ingest, timeout=30) as client:
                for _ in range(3):
                    rtt.append(await nats_round_trip(nc))  # warm-up
                for index, key in enumerate(keys):
                    connection, receiver = ("warm", warm_receiver) if index < breaches else ("cold", cold_receiver)
                    if index == breaches:  # the cold pass: the same subscription, now to the closing receiver
                        scenario.call(
                            "PATCH", "notifier", f"/v1/subscriptions/{subscription_id}", 200,
                            json={"target": {"url": cold_receiver.url}},
                        )  # fmt: skip
                    rtt.append(await nats_round_trip(nc))
                    started = time.perf_counter()
                    posted[key] = time.time()  # the services' stored timestamps are wall clock
                    response = await client.post("/v1/measurements", json=breaching_points(key))
                    assert response.status_code == 202, response.text
                    answered.append((time.perf_counter() - started) * 1000)
                    webhook = await asyncio.to_thread(wait_for_breach, receiver, key, 30)
                    if webhook is None:
                        raise SystemExit(f"no webhook for breach {index + 1} within 30 s")
                    arrived[key] = (webhook.arrived_at, time.time())
                    ours[connection].append(webhook.arrived_perf - started)  # one monotonic clock
            rtt = rtt[3:]
            spent = await stages.breakdown(urls, posted, {k: arrived[k] for k in keys[:breaches]})
            spent_cold = await stages.breakdown(urls, posted, {k: arrived[k] for k in keys[breaches:]})
            await responder.unsubscribe()
            await nc.close()
        finally:
            warm_receiver.stop()
            cold_receiver.stop()
    b50, b99 = percentile(rtt, 0.5) * 1000, percentile(rtt, 0.99) * 1000
    print(f"\n{database}: {breaches} breaches on a warm connection, then {cold} on cold ones, one at a time")
    for connection, label in (("warm", "warm connection"), ("cold", "cold connection")):
        if ours[connection]:
            p50, p99 = percentile(ours[connection], 0.5) * 1000, percentile(ours[connection], 0.99) * 1000
            print(f"  ingest -> webhook, {label}  p50 {p50:8.1f} ms   p99 {p99:8.1f} ms   (goal p50 < 50, p99 < 200)")
    p50, p99 = percentile(ours["warm"], 0.5) * 1000, percentile(ours["warm"], 0.99) * 1000
    print(f"  core NATS round trip          p50 {b50:8.2f} ms   p99 {b99:8.2f} ms")
    print(f"  ratio warm / NATS round trip  p50 {p50 / b50:8.0f} x    p99 {p99 / b99:8.0f} x")
    print("  where the time goes, warm connection (from the services' own timestamps):")
    median, worst = statistics.median(answered[:breaches]), max(answered[:breaches])
    print(f"    {'ingest request answered':<30} median {median:7.1f} ms   max {worst:7.1f} ms")
    stages.report(spent)
    to_receiver = spent_cold["attempt started -> at receiver"]
    if to_receiver:
        name = "cold: attempt -> at receiver"
        print(f"    {name:<30} median {statistics.median(to_receiver):7.1f} ms   max {max(to_receiver):7.1f} ms")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--breaches", type=int, default=20, help="breaches on a warm (kept-alive) connection")
    parser.add_argument("--cold", type=int, default=6, help="breaches after them, each on a new connection")
    args = parser.parse_args()
    for database in databases(args.database):
        await bench(database, args.breaches, args.cold)


if __name__ == "__main__":
    asyncio.run(main())
