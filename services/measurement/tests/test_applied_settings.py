"""What `configured` applies process-wide is what `applied_settings` captures and puts back (the tests' autouse
fixture relies on it, so a setting `configured` comes to apply is never left to the tests after one)."""

from __future__ import annotations

from slm_measurement import main
from slm_measurement.config import Settings


def test_every_setting_configured_applies_is_put_back() -> None:
    before = [getattr(target, name) for target, name in main._APPLIED]
    restore = main.applied_settings()
    main.configured(Settings(max_lateness_seconds=7, objective_bodies=3))
    assert [getattr(target, name) for target, name in main._APPLIED] != before
    restore()
    assert [getattr(target, name) for target, name in main._APPLIED] == before
