"""How figures are presented: rounded to 15 significant digits, every one a float keeps, so a budget of
1 - 0.999 reads 0.001 and not 0.0010000000000000009. One helper for every read (objective, as-of, replay,
burn rate, working)."""

from __future__ import annotations

from decimal import Decimal, localcontext
from typing import Annotated

from pydantic import AfterValidator

SIGNIFICANT = 15


def exact(value: float) -> Decimal:
    """A stored figure as the decimal it was written as (0.95, not 0.9499999999999999555910790149937)."""
    return Decimal(repr(value))


def shown(value: Decimal) -> float:
    """A decimal figure rounded to 15 significant digits: every one a float keeps, so its JSON is that decimal."""
    with localcontext() as context:
        context.prec = SIGNIFICANT
        return float(+value)


def tidy(value: float) -> float:
    """A float worked out in binary arithmetic, presented as `shown` presents a decimal one."""
    if type(value) is float and value and len(repr(value)) <= SIGNIFICANT:
        return value  # at most 15 digits already: the same float back (zero is not: the decimal drops -0's sign)
    return shown(exact(value))


Figure = Annotated[float, AfterValidator(tidy)]
