"""An OpenSLO alert policy from `slm apply` to the pager: catalogue, agreement, measurement, notifier.

The user applies OpenSLO documents with an AlertPolicy (one burn-rate AlertCondition), a
BudgetAdjustment and three AlertNotificationTargets (a URL, PagerDuty, e-mail); makes an agreement
from the offering; sends data that burns fast. The burn alert fires with the condition's windows and
threshold (not the default tiers) and reaches a loopback webhook, a loopback PagerDuty-style
endpoint and a loopback SMTP server. Then the condition changes, the offering gets a new version and
the agreement is amended onto it: measurement alerts by the new threshold.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from slm_shared.auth.principal import issue_token
from slm_shared.settings import DEVELOPMENT_JWT_SECRET
from tests.test_cli import SERVICES, environment, slm
from tools.devstack import Stack
from tools.receiver import SmtpReceiver, WebhookReceiver
from tools.scenario import Scenario, wait_until

pytestmark = pytest.mark.timeout(600)
TENANT = "openslo-alerting"
ROUTING_KEY = "R0UT1NGKEY0123456789abcdef012345"


def documents(*, threshold: float, hook: str, pager_url: str) -> list[dict[str, Any]]:
    def doc(kind: str, name: str, spec: dict[str, Any], **metadata: Any) -> dict[str, Any]:
        return {"apiVersion": "openslo/v1", "kind": kind, "metadata": {"name": name, **metadata}, "spec": spec}

    return [
        doc("Service", "ledger", {"description": "the general ledger"}, displayName="Ledger"),
        doc("SLI", "ledger-ok", {"ratioMetric": {"counter": True, "good": _pushed(), "total": _pushed()}}),
        doc(
            "AlertCondition",
            "ledger-fast-burn",
            {
                "severity": "page",
                "condition": {
                    "kind": "burnrate",
                    "op": "gte",
                    "threshold": threshold,
                    "lookbackWindow": "2h",
                    "alertAfter": "10m",
                },
            },
        ),
        doc("AlertNotificationTarget", "ledger-hook", {"target": hook}),
        doc(
            "AlertNotificationTarget",
            "ledger-pager",
            {"target": "pagerduty"},
            annotations={"slm/routing-key-env": "SLM_PAGERDUTY_LEDGER", "slm/events-url": pager_url},
        ),
        doc("AlertNotificationTarget", "ledger-mail", {"target": "mailto:ledger-oncall@example.com"}),
        doc(
            "AlertPolicy",
            "ledger-page",
            {
                "conditions": [{"conditionRef": "ledger-fast-burn"}],
                "notificationTargets": [
                    {"targetRef": "ledger-hook"},
                    {"targetRef": "ledger-pager"},
                    {"targetRef": "ledger-mail"},
                ],
            },
        ),
        doc(
            "SLO",
            "ledger-availability",
            {
                "service": "ledger",
                "indicatorRef": "ledger-ok",
                "budgetingMethod": "Occurrences",
                "timeWindow": [{"duration": "28d", "isRolling": True}],
                "objectives": [{"target": 0.999}],
                "alertPolicies": [{"alertPolicyRef": "ledger-page"}],
            },
        ),
        doc(
            "BudgetAdjustment",
            "ledger-sunday-maintenance",
            {
                "firstEvent": "2026-01-04T02:00:00Z",
                "duration": "2h",
                "rrule": "FREQ=WEEKLY;BYDAY=SU",
                "sloRefs": ["ledger-availability"],
            },
        ),
    ]


def _pushed() -> dict[str, Any]:
    return {"metricSource": {"type": "push", "spec": {}}}


def write(path: Path, docs: list[dict[str, Any]]) -> Path:
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    return path


def tiers_of(scenario: Scenario, objective_id: str, factor: float) -> list[dict[str, Any]]:
    """The objective's burn tiers once they are the policy's with `factor` and one fires."""

    def fired() -> Any:
        objective = scenario.call("GET", "measurement", f"/v1/objectives/{objective_id}", 200)
        alerts = objective["alerts"]
        if alerts and all(a["factor"] == pytest.approx(factor) for a in alerts) and any(a["firing"] for a in alerts):
            return alerts
        return None

    return list(wait_until(fired, timeout=60, what=f"the policy's tier (factor {factor}) to fire"))


def test_an_openslo_burn_policy_alerts_the_agreement_and_reaches_hook_pager_and_mail(
    patient_stack: Stack, receiver: WebhookReceiver, pager: WebhookReceiver, mailbox: SmtpReceiver, tmp_path: Path
) -> None:
    stack = patient_stack
    scenario = Scenario({name: stack.url(name) for name in SERVICES}, tenant=TENANT)
    env = environment(stack, issue_token(DEVELOPMENT_JWT_SECRET, tenant=TENANT, roles=["admin"]))
    env["SLM_PAGERDUTY_LEDGER"] = ROUTING_KEY
    given = documents(threshold=6, hook=receiver.url, pager_url=pager.url)
    applied = json.loads(slm("apply", "-f", str(write(tmp_path / "ledger.yaml", given)), env=env).stdout)
    assert (applied["subscriptions"], applied["notification_targets_not_subscribed"]) == (3, [])

    # The subscriptions: one per target and channel; the routing key is stored encrypted and shown redacted.
    subscriptions = {s["name"]: s for s in scenario.call("GET", "notifier", "/v1/subscriptions", 200)["items"]}
    assert {name: s["channel"] for name, s in subscriptions.items()} == {
        "openslo:ledger-hook:ledger": "webhook",
        "openslo:ledger-mail:ledger": "email",
        "openslo:ledger-pager:ledger": "pagerduty",
    }
    assert subscriptions["openslo:ledger-pager:ledger"]["target"]["routing_key"] == "***"
    assert subscriptions["openslo:ledger-mail:ledger"]["target"]["to"] == ["ledger-oncall@example.com"]
    assert ROUTING_KEY not in json.dumps(scenario.call("GET", "catalog", "/v1/openslo?format=json", 200))

    # An agreement from the offering: its objective carries the target's policy and maintenance.
    [service] = [s for s in scenario.call("GET", "catalog", "/v1/services", 200)["items"] if s["key"] == "ledger"]
    [offering] = scenario.call("GET", "catalog", f"/v1/services/{service['id']}/offerings", 200)["items"]
    agreement = scenario.activate_sla(service, offering)
    [objective] = scenario.call("GET", "agreements", f"/v1/agreements/{agreement['id']}", 200)["objectives"]
    [tier] = objective["alert_policy"]
    assert (tier["name"], tier["long_window"], tier["short_window"]) == ("ledger-fast-burn", "2h", "10m")
    assert tier["budget_share"] == pytest.approx(6 * 2 / (28 * 24))
    [window] = objective["maintenance_windows"]
    assert (window["rrule"], window["duration_minutes"]) == ("FREQ=WEEKLY;BYDAY=SU", 120)
    measured = scenario.wait_for_objective(agreement["id"])

    # Every request failing: the policy's tier fires (threshold 6 over 2h and 10m), not the default tiers.
    now = datetime.now(UTC)
    points = [
        {"service": "ledger", "indicator": "ledger-ok", "timestamp": (now + timedelta(seconds=i)).isoformat()}
        | {"good": 0, "total": 100}
        for i in range(3)
    ]
    scenario.call("POST", "measurement", "/v1/measurements", 202, json=points)
    [alert] = tiers_of(scenario, measured["id"], 6)
    assert (alert["name"], alert["long_window"], alert["short_window"], alert["severity"]) == (
        "ledger-fast-burn",
        "2h",
        "10m",
        "page",
    )
    # Measurement leaves the BudgetAdjustment's Sunday hours out of the 28-day window.
    working = scenario.call("GET", "measurement", f"/v1/objectives/{measured['id']}/working", 200)
    starts = [datetime.fromisoformat(i["start_utc"]) for i in working["excluded"]]
    assert starts and all((start.weekday(), start.hour, start.minute) == (6, 2, 0) for start in starts)
    assert all(i["minutes"] == 120 for i in working["excluded"])

    # The alert reaches the webhook, the PagerDuty-style endpoint (Events v2) and the mailbox.
    hooked = wait_until(
        lambda: [r.json() for r in receiver.received if r.json().get("type", "").endswith("burn_alert.v1")],
        timeout=60,
        what="the burn alert at the webhook",
    )
    assert hooked[0]["data"]["tier"] == "ledger-fast-burn" and hooked[0]["data"]["threshold_factor"] == 6
    [paged, *_] = pager.wait_for(1, timeout=60)
    event = paged.json()
    assert (event["routing_key"], event["event_action"]) == (ROUTING_KEY, "trigger")
    assert event["dedup_key"].endswith(f"{agreement['id']}:{measured['id']}:burn:ledger-fast-burn")
    [mail, *_] = mailbox.wait_for(1, timeout=60)
    assert mail.rcpt_tos == ["ledger-oncall@example.com"]

    # The condition changes: the offering gets version 2; the agreement amended onto it alerts by the new threshold.
    changed = documents(threshold=3, hook=receiver.url, pager_url=pager.url)
    again = json.loads(slm("apply", "-f", str(write(tmp_path / "ledger.yaml", changed)), env=env).stdout)
    assert (again["offerings"], again["subscriptions"]) == (1, 0)
    offerings = scenario.call("GET", "catalog", f"/v1/services/{service['id']}/offerings", 200)["items"]
    [newer] = [o for o in offerings if o["status"] == "published"]
    assert newer["version"] == 2 and newer["targets"][0]["alert_policy"][0]["budget_share"] == pytest.approx(3 / 336)
    aid = agreement["id"]
    body = {"changes": {"offering_id": newer["id"]}}
    amended = scenario.call("POST", "agreements", f"/v1/agreements/{aid}/amend", 200, json=body)
    [kept] = amended["objectives"]
    assert kept["id"] == objective["id"] and kept["alert_policy"][0]["budget_share"] == pytest.approx(3 / 336)
    proposed = scenario.call("GET", "agreements", f"/v1/agreements/{aid}/versions/{amended['version']}", 200)
    assert proposed["offering_id"] == newer["id"] and amended["offering_id"] != newer["id"]  # moved once in force
    customer = issue_token(
        DEVELOPMENT_JWT_SECRET, tenant=TENANT, roles=["customer"], party=amended["consumer_party_id"]
    )
    scenario.call("POST", "agreements", f"/v1/agreements/{aid}/propose", 200)
    scenario.call("POST", "agreements", f"/v1/agreements/{aid}/accept", 200)
    scenario.call("POST", "agreements", f"/v1/agreements/{aid}/accept", 200, token=customer)
    activated = scenario.call("POST", "agreements", f"/v1/agreements/{aid}/activate", 200)
    assert activated["offering_id"] == newer["id"]
    [alert] = tiers_of(scenario, measured["id"], 3)
    assert alert["name"] == "ledger-fast-burn"
    assert os.environ.get("SLM_PAGERDUTY_LEDGER") is None  # the key lived only in the CLI's environment
