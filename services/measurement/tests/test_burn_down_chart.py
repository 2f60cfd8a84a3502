"""The burn-down chart goes below zero once more budget is spent than allowed, with the zero line in sight."""

from __future__ import annotations

import re

from slm_measurement.reports import charts
from slm_measurement.reports.i18n import Formatter


def _zero_and_last(svg: str) -> tuple[float, float, float]:
    zero = float(re.search(r'<line class="zero" x1="[\d.]+" y1="([\d.]+)"', svg).group(1))  # type: ignore[union-attr]
    path = re.search(r'class="series" d="([^"]+)"', svg).group(1)  # type: ignore[union-attr]
    ys = [float(p.split(",")[1]) for p in re.findall(r"[ML]([\d.]+,[\d.]+)", path)]
    return zero, ys[0], ys[-1]


def test_an_overspent_budget_is_drawn_below_the_zero_line_with_its_lowest_value() -> None:
    pt = Formatter("pt")
    svg = charts.burn_down(
        "Consumo", [("1", 1.0), ("2", 0.0), ("3", -0.25)], zero_label=pt.percent(0.0, 0),
        percent=lambda v: pt.percent(v, 0),
    )  # fmt: skip
    zero, first, last = _zero_and_last(svg)
    assert charts.TOP <= zero < charts.HEIGHT - charts.PAD  # the zero line is inside the plot, not its floor
    assert first < zero < last  # starts above zero (y grows downwards), ends below it
    assert 'class="overspent"' in svg and 'class="chart burn-down overspent"' in svg
    lowest = re.search(r'class="tick lowest"[^>]*>([^<]+)<', svg).group(1)  # type: ignore[union-attr]
    assert lowest == pt.percent(-0.25, 0) and "-25" in lowest
    assert f">{pt.percent(0.0, 0)}<" in svg and f">{pt.percent(1.0, 0)}<" in svg


def test_a_budget_still_left_keeps_zero_at_the_floor_and_no_overspent_band() -> None:
    svg = charts.burn_down("Burn", [("1", 1.0), ("2", 0.4)])
    zero, first, last = _zero_and_last(svg)
    assert zero == charts.HEIGHT - charts.PAD and first < last < zero
    assert "overspent" not in svg and "tick lowest" not in svg
