"""A changed SLI applied again with `slm apply`: its indicator, its export and its pulled series follow."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from slm_shared.auth.principal import issue_token
from slm_shared.settings import DEVELOPMENT_JWT_SECRET
from tests.test_cli import SERVICES, environment, slm
from tools.devstack import Stack
from tools.scenario import Scenario

pytestmark = pytest.mark.timeout(600)
V1 = Path(__file__).resolve().parents[1] / "services/catalog/tests/openslo/v1.yaml"
OLD_GOOD = 'sum(rate(checkout_total{code!~"5.."}[1m]))'
NEW_GOOD = 'sum(increase(checkout_total{code!~"5..|429"}[1m]))'


def test_a_changed_sli_updates_indicator_export_and_pulled_series(patient_stack: Stack, tmp_path: Path) -> None:
    stack = patient_stack
    scenario = Scenario({name: stack.url(name) for name in SERVICES}, tenant="sli-change")
    env = environment(stack, issue_token(DEVELOPMENT_JWT_SECRET, tenant="sli-change", roles=["admin"]))
    first = json.loads(slm("apply", "-f", str(V1), env=env).stdout)
    assert (first["data_sources"], first["pulled_series"], first["updated_series"]) == (1, 3, 0)
    assert scenario.call("GET", "catalog", "/v1/indicators/checkout-success", 200)["version"] == 1

    text = V1.read_text()
    assert OLD_GOOD in text
    changed = tmp_path / "v1.yaml"
    changed.write_text(text.replace(OLD_GOOD, NEW_GOOD).replace("Successful checkouts", "Checkouts accepted"))
    again = json.loads(slm("apply", "-f", str(changed), env=env).stdout)
    assert (again["documents"], again["updated_indicators"], again["offerings"]) == (1, 1, 0)
    assert (again["pulled_series"], again["updated_series"]) == (0, 1)

    indicator = scenario.call("GET", "catalog", "/v1/indicators/checkout-success", 200)
    assert (indicator["name"], indicator["kind"], indicator["version"]) == ("Checkouts accepted", "ratio", 2)
    exported = json.loads(slm("export", "--openslo", "--format", "json", env=env).stdout)
    assert exported == [d for d in yaml.safe_load_all(changed.read_text()) if d is not None]
    pulled = {p["indicator"]: p for p in scenario.call("GET", "measurement", "/v1/pulled-series", 200)["items"]}
    assert pulled["checkout-success"]["good_query"] == NEW_GOOD
    assert pulled["checkout-errors"]["good_query"] != NEW_GOOD  # the other SLIs' series are as they were

    # The same documents once more: nothing changes anywhere.
    same = json.loads(slm("apply", "-f", str(changed), env=env).stdout)
    assert (same["updated_indicators"], same["updated_series"], same["documents"]) == (0, 0, 0)

    # A longer step for that SLI (an annotation): the series differs by its step alone and follows it.
    stepped = tmp_path / "stepped.yaml"
    annotated = "metadata:\n  name: checkout-success\n  annotations:\n    slm/step-seconds: '120'\n"
    stepped.write_text(changed.read_text().replace("metadata:\n  name: checkout-success\n", annotated))
    longer = json.loads(slm("apply", "-f", str(stepped), env=env).stdout)
    assert (longer["pulled_series"], longer["updated_series"]) == (0, 1)
    pulled = {p["indicator"]: p for p in scenario.call("GET", "measurement", "/v1/pulled-series", 200)["items"]}
    assert (pulled["checkout-success"]["step_seconds"], pulled["checkout-success"]["good_query"]) == (120, NEW_GOOD)
