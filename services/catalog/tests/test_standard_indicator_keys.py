"""Measurement accepts points for the standard indicators by the shared list; it must be the catalogue's."""

from slm_catalog.indicators.builtin import STANDARD_INDICATORS
from slm_shared.contracts.indicators import STANDARD_INDICATOR_KEYS


def test_the_shared_list_of_standard_indicators_is_the_catalogues() -> None:
    assert set(STANDARD_INDICATORS) == STANDARD_INDICATOR_KEYS
