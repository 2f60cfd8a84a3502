"""`make demo`: seed one tenant against the running stack and watch a breach notification arrive."""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
from standardwebhooks import Webhook

from tools.devstack import SERVICES, Stack
from tools.receiver import Received, WebhookReceiver
from tools.scenario import Scenario


def main() -> int:
    stack = Stack.from_environment(Path(os.environ.get("SLM_DATA_DIR", "var")).resolve())
    urls = {spec.name: stack.url(spec.name) for spec in SERVICES}
    for name, url in urls.items():
        try:
            httpx.get(f"{url}/healthz", timeout=2).raise_for_status()
        except httpx.HTTPError:
            print(f"{name} is not answering at {url}: start the platform first with `make run`.", file=sys.stderr)
            return 1

    receiver = WebhookReceiver().start()
    scenario = Scenario(
        urls,
        secret=os.environ.get("SLM_JWT_SECRET", Scenario.__dataclass_fields__["secret"].default),
        log=lambda line: print(f"  - {line}", flush=True),
    )
    print(f"Demo tenant '{scenario.tenant}'; a webhook receiver listens on {receiver.url}\n", flush=True)
    subscription = scenario.subscribe(receiver.url)
    try:
        service, offering = scenario.create_offering()
        agreement = scenario.activate_sla(service, offering)
        objective = scenario.wait_for_objective(agreement["id"])
        scenario.ingest_breach(service["key"], since=agreement["activated_at"])
        print("\nWaiting for the breach notification...", flush=True)
        deadline = time.monotonic() + 90
        breaches: list[Received] = []
        while not breaches and time.monotonic() < deadline:  # burn-tier alerts may arrive first
            received = receiver.wait_for(len(receiver.received) + 1, timeout=1)
            breaches = [r for r in received if r.json()["type"] == "slm.measurement.objective.breached.v1"]
        if not breaches:
            print("No breach notification arrived within 90 s; see var/*.log", file=sys.stderr)
            return 1
        hook = breaches[0]
        payload = Webhook(subscription["secret"]).verify(hook.body, hook.headers)
        print(f"\nWebhook received (signature verified, webhook-id {hook.headers['webhook-id']}):")
        print(json.dumps(payload, indent=2))
        objective_id = payload["data"]["objective_id"]
        same = "the same id" if objective_id == objective["id"] else f"a different id from {objective['id']}"
        live = scenario.call("GET", "measurement", f"/v1/objectives/{objective_id}", 200)
        print(f"\nThe webhook names objective {objective_id}, {same} as the API.")
        print(f"GET /v1/objectives/{objective_id}: {live['status']}, {live['good']:g} good of {live['total']:g}")
        month = datetime.now(UTC).strftime("%Y-%m")
        report = scenario.call("GET", "measurement", f"/v1/agreements/{agreement['id']}/report?period={month}", 200)
        for row in report["objectives"]:
            verdict = "missed" if row["met"] is False else "met" if row["met"] else "no data"
            print(
                f"Report {month}, objective {row['objective_id']}: {verdict}, {row['good']:g} good of {row['total']:g}"
            )
        return 0
    finally:
        scenario.call("DELETE", "notifier", f"/v1/subscriptions/{subscription['id']}", 204)
        receiver.stop()


if __name__ == "__main__":
    raise SystemExit(main())
