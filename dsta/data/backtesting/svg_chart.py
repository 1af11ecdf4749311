"""The backtest report's chart as inline SVG: price with trade markers, equity, and drawdown panels sharing
one time axis. Plain polylines from numpy, no matplotlib: importing and rasterising with matplotlib took
seconds of every `manage.py backtest` (bench/cli_startup.py measures it)."""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

WIDTH = 1200
LEFT, RIGHT = 80, 20  # room for the y-axis labels
PANEL_GAP = 28
TOP = 40  # room for the title


@dataclass(frozen=True)
class Markers:
    """Points drawn as triangles on the price panel (x: bar index, y: price)."""

    index: np.ndarray
    price: np.ndarray
    kind: str  # "entry" (green, up) or "exit" (red, down)


@dataclass(frozen=True)
class Panel:
    label: str
    series: np.ndarray  # one value per plotted bar
    height: int
    color: str
    fill_to_zero: bool = False
    markers: tuple[Markers, ...] = ()


def _format(value: float) -> str:
    return f"{value:,.2f}" if abs(value) < 1e6 else f"{value:,.0f}"


def _panel_svg(panel: Panel, *, top: int, x: np.ndarray, positions: np.ndarray) -> str:
    values = panel.series[np.isfinite(panel.series)]
    low, high = (float(values.min()), float(values.max())) if len(values) else (0.0, 1.0)
    for group in panel.markers:
        if len(group.price):
            low, high = min(low, float(group.price.min())), max(high, float(group.price.max()))
    if panel.fill_to_zero:
        low, high = min(low, 0.0), max(high, 0.0)
    if high == low:
        high, low = high + 1, low - 1
    scale = (panel.height - 10) / (high - low)

    def y_of(value: np.ndarray) -> np.ndarray:
        return top + 5 + (high - value) * scale

    ys = y_of(np.nan_to_num(panel.series, nan=low))
    points = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(x, ys, strict=True))
    right = WIDTH - RIGHT
    parts = [
        f'<rect x="{LEFT}" y="{top}" width="{right - LEFT}" height="{panel.height}" fill="none" stroke="#ccc"/>',
        f'<text x="{LEFT - 6}" y="{top + 12}" text-anchor="end">{_format(high)}</text>',
        f'<text x="{LEFT - 6}" y="{top + panel.height}" text-anchor="end">{_format(low)}</text>',
        f'<text x="{LEFT + 6}" y="{top + 14}" fill="#555">{html.escape(panel.label)}</text>',
    ]
    if panel.fill_to_zero:
        zero = float(y_of(np.array(0.0)))
        area = f"{x[0]:.1f},{zero:.1f} {points} {x[-1]:.1f},{zero:.1f}"
        parts.append(f'<polygon class="series" points="{area}" fill="{panel.color}" fill-opacity="0.4"/>')
    else:
        parts.append(f'<polyline class="series" points="{points}" fill="none" stroke="{panel.color}"/>')
    for group in panel.markers:
        color, tip = ("#1a9850", -5) if group.kind == "entry" else ("#d73027", 5)
        mx = np.interp(group.index, positions, x)
        for a, b in zip(mx, y_of(group.price), strict=True):
            triangle = f"{a:.1f},{b + tip:.1f} {a - 4:.1f},{b - tip:.1f} {a + 4:.1f},{b - tip:.1f}"
            parts.append(f'<polygon class="{group.kind}" points="{triangle}" fill="{color}"/>')
    return "".join(parts)


def chart_svg(*, title: str, times: np.ndarray, positions: np.ndarray, panels: Sequence[Panel]) -> str:
    """`positions`: the bar index of each plotted point (strided series); `times`: their datetime64 stamps,
    labelled at both ends of the shared time axis."""
    span = max(1, int(positions[-1] - positions[0])) if len(positions) else 1
    x = LEFT + (positions - (positions[0] if len(positions) else 0)) * ((WIDTH - LEFT - RIGHT) / span)
    body, top = [], TOP
    for panel in panels:
        body.append(_panel_svg(panel, top=top, x=x, positions=positions))
        top += panel.height + PANEL_GAP
    axis = top - PANEL_GAP + 16
    if len(times):
        body.append(f'<text x="{LEFT}" y="{axis}">{np.datetime_as_string(times[0], unit="m")}</text>')
        body.append(
            f'<text x="{WIDTH - RIGHT}" y="{axis}" text-anchor="end">'
            f"{np.datetime_as_string(times[-1], unit='m')}</text>"
        )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {axis + 8}" width="100%"'
        f' font-family="sans-serif" font-size="12" stroke-width="1" role="img">'
        f"<title>{html.escape(title)}</title>"
        f'<text x="{WIDTH / 2}" y="20" text-anchor="middle" font-size="16">{html.escape(title)}</text>'
        f"{''.join(body)}</svg>"
    )
