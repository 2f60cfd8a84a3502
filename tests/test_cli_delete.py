"""`slm delete -f FILE`, run as its user runs it: the file's OpenSLO documents deleted, those naming others first."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from tests.test_cli import environment, slm
from tests.test_openslo_delete import documents
from tools.devstack import Stack
from tools.scenario import Scenario, wait_until

pytestmark = pytest.mark.timeout(600)
SERVICES = ("catalog", "agreements", "measurement", "notifier")


def test_slm_delete_removes_a_files_documents_and_stops_their_series(stack: Stack, tmp_path: Path) -> None:
    scenario = Scenario({name: stack.url(name) for name in SERVICES}, tenant="cli-delete")
    token = slm("token", "--tenant", "cli-delete", "--role", "manager", env=environment(stack)).stdout.strip()
    env = environment(stack, token)
    given = documents("http://127.0.0.1:9/hooks/on-call")
    everything, sli_only = tmp_path / "orders.yaml", tmp_path / "sli.yaml"
    everything.write_text(yaml.safe_dump_all(given, sort_keys=False))
    sli_only.write_text(yaml.safe_dump_all([d for d in given if d["kind"] == "SLI"], sort_keys=False))
    slm("apply", "-f", str(everything), env=env)
    wait_until(
        lambda: scenario.call("GET", "measurement", "/v1/pulled-series", 200)["items"],
        timeout=120,
        what="the SLI pulled",
    )

    refused = slm("delete", "-f", str(sli_only), env=env, check=False)  # the SLO still names it
    assert refused.returncode == 1
    assert json.loads(refused.stdout)["deleted"] == []
    assert "SLI orders-ok not deleted: SLI orders-ok is named by SLO orders-availability" in refused.stderr

    done = json.loads(slm("delete", "-f", str(everything), env=env).stdout)
    assert sorted(done["deleted"]) == sorted(f"{d['kind']} {d['metadata']['name']}" for d in given)
    assert done["deleted"][0] == "SLO orders-availability"  # before the documents it names
    assert (done["not_found"], done["refused"]) == ([], {})
    assert scenario.call("GET", "catalog", "/v1/openslo?format=json", 200) == []
    [series] = wait_until(
        lambda: [s for s in scenario.call("GET", "measurement", "/v1/pulled-series", 200)["items"] if s["stopped_at"]],
        timeout=120,
        what="the series stopped",
    )
    assert series["indicator"] == "orders-ok"

    again = slm("delete", "-f", str(everything), env=env, check=False)
    assert again.returncode == 1 and len(json.loads(again.stdout)["not_found"]) == len(given)
    slm("delete", "-f", str(everything), "--ignore-not-found", env=env)
    customer = environment(
        stack, slm("token", "--tenant", "cli-delete", "--role", "customer", "--party", "p", env=env).stdout.strip()
    )
    forbidden = slm("delete", "-f", str(sli_only), env=customer, check=False)
    assert forbidden.returncode == 1 and "403" in forbidden.stderr


def test_slm_delete_of_a_file_that_is_not_yaml_says_so_without_a_traceback(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("apiVersion: openslo/v1\nkind: SLO\nmetadata: {name: [unclosed\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLM_")}
    env.update({"SLM_CATALOG_URL": "http://127.0.0.1:9", "SLM_TOKEN": "unused"})
    done = slm("delete", "-f", str(broken), env=env, check=False)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "broken.yaml" in done.stderr and "not valid YAML" in done.stderr
