"""`tidy` returns a float of at most 15 digits as it is, without the decimal round trip: the same
figure as rounding through `shown`, for every float (zero's sign and non-finite values included)."""

from __future__ import annotations

import math
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from slm_measurement.figures import exact, shown, tidy


def through_decimal(value: float) -> float:
    return shown(exact(value))


@settings(max_examples=3000)
@given(st.floats(allow_nan=False) | st.floats(min_value=0, max_value=1).map(lambda v: round(v, 4)))
def test_tidy_equals_the_decimal_rounding(value: float) -> None:
    assert repr(tidy(value)) == repr(through_decimal(value))


def test_edge_figures() -> None:
    for value in (0.999, 0.9995, 1 - 0.999, 0.1 + 0.2, 1 / 3, 1e-05, 1e300, 5e-324, 123456789012345.0, math.inf):
        assert repr(tidy(value)) == repr(through_decimal(value))
    assert repr(tidy(-0.0)) == "0.0" == repr(float(+Decimal("-0.0")))  # the decimal drops zero's sign
    assert tidy(1 - 0.999) == 0.001
