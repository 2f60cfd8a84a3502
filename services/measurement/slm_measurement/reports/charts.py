"""Charts as inline SVG (no script, no network): error budget burn-down and attainment trend."""

from __future__ import annotations

from collections.abc import Callable
from html import escape

WIDTH, HEIGHT, PAD = 560, 230, 36
TOP = 30  # room above the plot for the title shown on screen


def _scale(lo: float, hi: float) -> Callable[[float], float]:
    span = (hi - lo) or 1.0
    return lambda v: TOP + (HEIGHT - PAD - TOP) * (hi - v) / span


def _frame(title: str, body: list[str], kind: str, x_label: str = "", y_label: str = "") -> str:
    shown = [
        f'<text class="chart-title" x="{WIDTH / 2}" y="16" font-size="13" font-weight="bold" '
        f'text-anchor="middle">{escape(title)}</text>',
        f'<text class="axis-label x" x="{WIDTH / 2}" y="{HEIGHT - 4}" font-size="10" '
        f'text-anchor="middle">{escape(x_label)}</text>',
        f'<text class="axis-label y" x="10" y="{HEIGHT / 2}" font-size="10" text-anchor="middle" '
        f'transform="rotate(-90 10 {HEIGHT / 2})">{escape(y_label)}</text>',
    ]
    return (
        f'<svg class="chart {kind}" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="{escape(title)}"><title>{escape(title)}</title>'
        + "".join(shown + body)
        + "</svg>"
    )


def burn_down(
    title: str,
    points: list[tuple[str, float | None]],
    *,
    zero_label: str = "0",
    x_label: str = "",
    y_label: str = "",
    percent: Callable[[float], str] = lambda v: f"{v:.0%}",
) -> str:
    """Budget left (1 = all, 0 = spent, below 0 = overspent) after each checkpoint, as a line.

    The axis always runs from 100 % down to the lowest value drawn, so an overspent budget goes below the zero
    line (kept visible and labelled) into a shaded band with the lowest value written at its foot."""
    values = [v for _, v in points if v is not None]
    lo, hi = min([0.0, *values]), max([1.0, *values])
    y = _scale(lo, hi)
    step = (WIDTH - 2 * PAD) / max(len(points) - 1, 1)
    body = []
    if lo < 0:
        body += [
            f'<rect class="overspent" x="{PAD}" y="{y(0):.1f}" width="{WIDTH - 2 * PAD}" '
            f'height="{y(lo) - y(0):.1f}" fill="#cf222e" fill-opacity="0.08"/>',
            f'<text class="tick lowest" x="{PAD + 3}" y="{y(lo) - 3:.1f}" font-size="10" fill="#cf222e">'
            f"{escape(percent(lo))}</text>",
        ]
    zero_text = y(0) - 3 if y(1) < y(0) - 14 else y(0) + 12  # below the line when the 100 % tick crowds it
    if lo < 0 and zero_text > y(0) and y(lo) - y(0) < 28:
        zero_text = y(0) - 3  # and above it when the lowest value's tick is just below
    body += [
        f'<line class="zero" x1="{PAD}" y1="{y(0):.1f}" x2="{WIDTH - PAD}" y2="{y(0):.1f}" stroke="#57606a" '
        'stroke-width="1.5"/>',
        f'<text class="tick zero" x="{PAD + 3}" y="{zero_text:.1f}" font-size="10">{escape(zero_label)}</text>',
        f'<line class="full" x1="{PAD}" y1="{y(1):.1f}" x2="{WIDTH - PAD}" y2="{y(1):.1f}" stroke="#d0d7de"/>',
        f'<text class="tick full" x="{PAD + 3}" y="{y(1) - 3:.1f}" font-size="10">{escape(percent(1.0))}</text>',
    ]
    segments, pen = [], "M"
    for index, (_label, value) in enumerate(points):
        if value is None:
            pen = "M"
            continue
        segments.append(f"{pen}{PAD + index * step:.1f},{y(value):.1f}")
        pen = "L"
    if segments:
        body.append(f'<path class="series" d="{" ".join(segments)}" fill="none" stroke="#1f6feb" stroke-width="2"/>')
    if points:
        body.append(f'<text x="{PAD}" y="{HEIGHT - 20}" font-size="10">{escape(points[0][0])}</text>')
        body.append(
            f'<text x="{WIDTH - PAD}" y="{HEIGHT - 20}" font-size="10" text-anchor="end">{escape(points[-1][0])}</text>'
        )
    return _frame(title, body, "burn-down" + (" overspent" if lo < 0 else ""), x_label, y_label)


def trend(
    title: str, points: list[tuple[str, float | None, str]], target: float, *, x_label: str = "", y_label: str = ""
) -> str:
    """Attainment per period as bars (label, value, shown value), with the target as a line."""
    values = [v for _, v, _ in points if v is not None]
    floor = max(min([target - 4 * (1 - target), *values]) - 0.001, 0.0)
    y = _scale(floor, 1.0)
    width = (WIDTH - 2 * PAD) / max(len(points), 1)
    body = []
    for index, (label, value, shown) in enumerate(points):
        x = PAD + index * width
        if value is not None:
            top = y(max(value, floor))
            colour = "#2da44e" if value >= target else "#cf222e"
            body.append(
                f'<rect class="bar" x="{x + width * 0.15:.1f}" y="{top:.1f}" width="{width * 0.7:.1f}" '
                f'height="{max(y(floor) - top, 1):.1f}" fill="{colour}"/>'
            )
            body.append(
                f'<text x="{x + width / 2:.1f}" y="{top - 3:.1f}" font-size="10" '
                f'text-anchor="middle">{escape(shown)}</text>'
            )
        body.append(
            f'<text x="{x + width / 2:.1f}" y="{HEIGHT - 20}" font-size="10" '
            f'text-anchor="middle">{escape(label)}</text>'
        )
    body.append(
        f'<line class="target" x1="{PAD}" y1="{y(target):.1f}" x2="{WIDTH - PAD}" y2="{y(target):.1f}" '
        'stroke="#444" stroke-dasharray="4 3"/>'
    )
    return _frame(title, body, "trend", x_label, y_label)
