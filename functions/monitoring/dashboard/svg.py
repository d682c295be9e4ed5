"""Charts drawn on the server as inline SVG, so the dashboard needs no script or network.

A chart is a polyline per run of known points: a minute with no data leaves a gap rather
than a misleading line to zero.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from html import escape

__all__ = ["format_value", "line_chart"]

Point = tuple[datetime, float | None]


def format_value(value: float | None, unit: str) -> str:
    """Return ``value`` for people: ``1.2 s``, ``340 ms``, ``4.1%``, ``$12.30``, ``no data``."""
    if value is None:
        return "no data"
    if unit == "ms":
        return f"{value / 1000:.2f} s" if value >= 1000 else f"{value:.0f} ms"
    if unit == "ratio":
        return f"{value * 100:.2f}%"
    if unit == "usd":
        return f"${value:,.2f}"
    if unit == "per_min":
        return f"{value:,.1f}/min"
    if unit == "count" and float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}"


def line_chart(
    points: Sequence[Point],
    *,
    title: str,
    unit: str,
    width: int = 460,
    height: int = 150,
    threshold: float | None = None,
) -> str:
    """Return an ``<svg>`` line chart of ``points`` with its title, range and an optional
    threshold line (a budget, an alert level)."""
    pad_left, pad_right, pad_top, pad_bottom = 54, 10, 8, 22
    inner_w, inner_h = width - pad_left - pad_right, height - pad_top - pad_bottom
    known = [v for _, v in points if v is not None]
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {width} {height}" '
        f'width="100%" aria-label="{escape(title)}">',
        f'<rect x="{pad_left}" y="{pad_top}" width="{inner_w}" height="{inner_h}" class="bg"/>',
    ]
    if not points or not known:
        parts.append(
            f'<text x="{pad_left + inner_w / 2}" y="{pad_top + inner_h / 2}" '
            'text-anchor="middle" class="nd">no data</text></svg>'
        )
        return "".join(parts)

    top = max(known + ([threshold] if threshold is not None else []))
    top = top * 1.1 if top > 0 else 1.0
    first, last = points[0][0], points[-1][0]
    span = max((last - first).total_seconds(), 1.0)

    def x(when: datetime) -> float:
        return pad_left + (when - first).total_seconds() / span * inner_w

    def y(value: float) -> float:
        return pad_top + inner_h - (value / top) * inner_h

    runs: list[list[str]] = [[]]
    for when, value in points:
        if value is None:
            if runs[-1]:
                runs.append([])
            continue
        runs[-1].append(f"{x(when):.1f},{y(value):.1f}")
    for run in runs:
        if len(run) == 1:
            cx, cy = run[0].split(",")
            parts.append(f'<circle cx="{cx}" cy="{cy}" r="2" class="ln"/>')
        elif run:
            parts.append(f'<polyline points="{" ".join(run)}" class="ln" fill="none"/>')
    if threshold is not None:
        ty = y(threshold)
        parts.append(
            f'<line x1="{pad_left}" x2="{pad_left + inner_w}" '
            f'y1="{ty:.1f}" y2="{ty:.1f}" class="th"/>'
        )
    parts += [
        f'<text x="{pad_left - 4}" y="{pad_top + 8}" text-anchor="end" class="ax">'
        f"{escape(format_value(top, unit))}</text>",
        f'<text x="{pad_left - 4}" y="{pad_top + inner_h}" text-anchor="end" class="ax">0</text>',
        f'<text x="{pad_left}" y="{height - 6}" class="ax">{first:%m-%d %H:%M}</text>',
        f'<text x="{pad_left + inner_w}" y="{height - 6}" text-anchor="end" class="ax">'
        f"{last:%m-%d %H:%M} UTC</text>",
        "</svg>",
    ]
    return "".join(parts)
