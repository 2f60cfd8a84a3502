"""The `slm` command line, run as its user runs it: a subprocess against the running stack."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from tools.devstack import Stack
from tools.scenario import Scenario, wait_until

pytestmark = pytest.mark.timeout(600)  # a busy machine is not a failure: the stack alone can take minutes to start
SLM = Path(sys.executable).with_name("slm")
SERVICES = ("catalog", "agreements", "measurement", "notifier")


def slm(*args: str, env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(SLM), *args], env=env, capture_output=True, text=True, timeout=120, check=False)
    if check:
        assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done


HOOK = "http://127.0.0.1:9/hooks/on-call"


def yaml_documents(path: Path) -> list[Any]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def environment(stack: Stack, token: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLM_")}
    env.update({f"SLM_{name.upper()}_URL": stack.url(name) for name in SERVICES})
    env["COLUMNS"] = "200"  # tables wide enough to hold ids
    if token:
        env["SLM_TOKEN"] = token
    return env


def test_the_cli_gets_exports_applies_ingests_with_resume_and_fetches_reports(stack: Stack, tmp_path: Path) -> None:
    scenario = Scenario({name: stack.url(name) for name in SERVICES}, tenant="cli")
    token = slm("token", "--tenant", "cli", "--role", "admin", env=environment(stack)).stdout.strip()
    env = environment(stack, token)
    service, offering = scenario.create_offering()
    agreement = scenario.activate_sla(service, offering)
    objective = scenario.wait_for_objective(agreement["id"])

    listed = json.loads(slm("get", "services", "-o", "json", env=env).stdout)
    assert [s["key"] for s in listed] == [service["key"]]
    table = slm("get", "objectives", env=env).stdout
    assert offering["id"] in slm("get", "offerings", env=env).stdout
    agreements = slm("get", "agreements", env=env).stdout
    assert agreement["id"] in agreements and "active" in agreements
    assert objective["id"] in table and "no_data" in table

    # A big file in small batches; a bad line stops the run with the line named, the rest resumes after it is fixed.
    # Only time while the agreement is in force counts: the points fall after its activation.
    since = datetime.now(UTC)
    rows = [(since + timedelta(milliseconds=100 * i)).isoformat() for i in range(20)]
    lines = ["service,indicator,timestamp,good,total"]
    lines += [f"{service['key']},availability,{stamp},{90 + i % 10},100" for i, stamp in enumerate(rows)]
    lines[14] = lines[14].replace(",100", ",many")
    data = tmp_path / "points.csv"
    data.write_text("\n".join(lines) + "\n")
    failed = slm("ingest", str(data), "--batch", "4", env=env, check=False)
    assert failed.returncode == 1 and "line 15" in failed.stderr and "not a number" in failed.stderr
    saved = json.loads((tmp_path / "points.csv.position").read_text())["offset"]
    assert saved == len("\n".join(lines[:13]) + "\n")  # the three whole batches before the bad one
    data.write_text("\n".join(lines).replace(",many", ",100") + "\n")
    resumed = slm("ingest", str(data), "--batch", "4", env=env)
    assert "8 points accepted" in resumed.stdout

    def evaluated() -> Any:
        state = scenario.call("POST", "measurement", f"/v1/objectives/{objective['id']}/evaluate", 200)
        return state if state["total"] == 2000 else None

    state = wait_until(evaluated, timeout=30, what="every point counted once")
    assert state["good"] == sum(90 + i % 10 for i in range(20))
    objectives = json.loads(slm("get", "objectives", "-o", "json", env=env).stdout)
    assert objectives[0]["status"] == state["status"] and objectives[0]["budget_remaining"] is not None

    # Points for a service the catalogue does not know: the refusal names the field, exit status 1.
    unknown = tmp_path / "unknown.ndjson"
    unknown.write_text(
        json.dumps({"service": "nobody", "indicator": "availability", "timestamp": rows[0], "good": 1, "total": 1})
        + "\n"
    )
    refused = slm("ingest", str(unknown), env=env, check=False)
    assert refused.returncode == 1 and "[0].service" in refused.stderr

    report = tmp_path / "report.csv"
    slm("report", agreement["id"], "--period", since.strftime("%Y-%m"), "--format", "csv", "-o", str(report), env=env)
    assert agreement["id"] in report.read_text() or service["key"] in report.read_text()

    # Export from one tenant, apply to another with the token from a config file: the same catalogue.
    exported = tmp_path / "catalogue.yaml"
    slm("export", "-o", str(exported), env=env)
    other_token = slm("token", "--tenant", "cli-copy", env=env).stdout.strip()
    config = tmp_path / "slm.toml"
    config.write_text(f'token = "{other_token}"\n')
    copy_env = {k: v for k, v in env.items() if k != "SLM_TOKEN"}
    slm("--config", str(config), "apply", "-f", str(exported), env=copy_env)
    copied = json.loads(slm("--config", str(config), "get", "services", "-o", "json", env=copy_env).stdout)
    assert [s["key"] for s in copied] == [service["key"]]
    # OpenSLO documents through the same apply, and back out unchanged.
    openslo = Path(__file__).resolve().parents[1] / "services/catalog/tests/openslo/v1alpha.yaml"
    slm("apply", "-f", str(openslo), env=env)
    back = slm("export", "--openslo", "--format", "json", env=env).stdout
    assert [d["metadata"]["name"] for d in json.loads(back)] == ["search", "search-latency", "search-success"]
    keys = [s["key"] for s in json.loads(slm("get", "services", "-o", "json", env=env).stdout)]
    assert sorted(keys) == sorted([service["key"], "search"])
    # A prometheus DataSource and PromQL SLIs in OpenSLO become what measurement pulls.
    v1 = openslo.with_name("v1.yaml")
    applied = json.loads(slm("apply", "-f", str(v1), env=env).stdout)
    assert (applied["data_sources"], applied["pulled_series"]) == (1, 3)
    pulled = scenario.call("GET", "measurement", "/v1/pulled-series", 200)["items"]
    assert {(p["service_key"], p["indicator"]) for p in pulled} == {
        ("checkout", "checkout-success"),
        ("checkout", "checkout-errors"),
        ("checkout", "checkout-latency"),
    }
    refused = slm("--token", "not-a-token", "get", "services", env=copy_env, check=False)
    assert refused.returncode == 1 and "401" in refused.stderr


def test_slm_apply_subscribes_openslo_notification_targets_once(stack: Stack, tmp_path: Path) -> None:
    scenario = Scenario({name: stack.url(name) for name in SERVICES}, tenant="cli-alerts")
    token = slm("token", "--tenant", "cli-alerts", "--role", "admin", env=environment(stack)).stdout.strip()
    env = environment(stack, token)
    openslo = Path(__file__).resolve().parents[1] / "services/catalog/tests/openslo/v1.yaml"
    # The on-call AlertNotificationTarget, given as a URL, becomes a webhook subscription to burn alerts.
    v1 = tmp_path / "v1.yaml"
    v1.write_text(openslo.read_text().replace("target: pagerduty", f"target: {HOOK}"))
    applied = json.loads(slm("apply", "-f", str(v1), env=env).stdout)
    assert (applied["subscriptions"], applied["notification_targets_not_subscribed"]) == (1, [])
    [subscription] = scenario.call("GET", "notifier", "/v1/subscriptions", 200)["items"]
    assert subscription["name"] == "openslo:on-call:checkout" and subscription["channel"] == "webhook"
    assert subscription["event_types"] == ["slm.measurement.objective.burn_alert.v1"]
    assert subscription["filters"]["service_key"] == "checkout"
    # Applying again changes nothing and subscribes nobody twice.
    again = json.loads(slm("apply", "-f", str(v1), env=env).stdout)
    assert (again["unchanged"], again["subscriptions"]) == (len(yaml_documents(v1)), 0)
    # A target that is a tool's name, not a URL, is said not to be subscribed.
    as_named = json.loads(slm("apply", "-f", str(openslo), env=env).stdout)
    assert as_named["notification_targets_not_subscribed"] == ["on-call"] and as_named["documents"] == 1
    assert len(scenario.call("GET", "notifier", "/v1/subscriptions", 200)["items"]) == 1
