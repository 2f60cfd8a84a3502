"""An activated objective's own terms: its burn-rate policy, and maintenance beside the agreement's."""

from __future__ import annotations

from typing import Any

from slm_measurement import read_model
from slm_shared.contracts.payloads_v2 import AgreementActivatedV2

TIER = {"name": "fast", "severity": "page", "budget_share": 0.02, "long_window": "2h", "short_window": "10m"}
SUNDAYS = {"start": "2026-01-04T02:00:00Z", "rrule": "FREQ=WEEKLY;BYDAY=SU", "duration_minutes": 120}
NEW_YEAR = {"start": "2026-12-31T22:00:00Z", "end": "2027-01-01T02:00:00Z"}


def activated(**terms: Any) -> AgreementActivatedV2:
    objective = {
        "objective_id": "obj-1",
        "indicator": "availability",
        "target": 0.999,
        "window": {"kind": "rolling", "duration": "28d"},
        **terms,
    }
    return AgreementActivatedV2.model_validate(
        {
            "agreement_id": "agr-1",
            "version": 1,
            "kind": "SLA",
            "name": "Ledger",
            "service_id": "svc-1",
            "service_key": "ledger",
            "effective_from": "2026-11-01T00:00:00Z",
            "objectives": [objective],
            "maintenance_windows": [NEW_YEAR],
        }
    )


def test_the_objectives_policy_and_maintenance_come_from_its_terms() -> None:
    agreement = activated(alert_policy=[TIER], maintenance_windows=[SUNDAYS])
    read_model.check_agreement(agreement)
    defined = read_model.definition(agreement, agreement.objectives[0])
    assert defined["alert_policy"] == [TIER]
    assert [w.get("rrule") for w in defined["maintenance_windows"]] == [None, SUNDAYS["rrule"]]


def test_without_a_policy_in_the_terms_the_objectives_own_stays() -> None:
    agreement = activated()
    defined = read_model.definition(agreement, agreement.objectives[0])
    assert "alert_policy" not in defined  # a policy set with PUT /policy (or the default) is left as it is
    assert len(defined["maintenance_windows"]) == 1
