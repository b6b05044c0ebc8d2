"""A small hand-written SVG line chart, so the report needs no plotting library and no network."""

from __future__ import annotations

import html
from collections.abc import Sequence

COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")


def line_chart(series: dict[str, Sequence[float | None]], *, title: str, width: int = 640, height: int = 300,
               y_range: tuple[float, float] = (0.0, 1.0), x_label: str = "step") -> str:
    """Lines with markers for each named series (None values are gaps); x is the index in the sequence."""
    left, right, top, bottom = 48, 16, 56, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    n = max((len(v) for v in series.values()), default=0)
    lo, hi = y_range
    span = (hi - lo) or 1.0

    def x(i: int) -> float:
        return left + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    def y(v: float) -> float:
        return top + plot_h * (1 - (min(max(v, lo), hi) - lo) / span)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}"><title>{html.escape(title)}</title>',
             f'<rect width="{width}" height="{height}" fill="white"/>',
             f'<text x="{width / 2}" y="18" text-anchor="middle" font-size="14" font-family="sans-serif">'
             f'{html.escape(title)}</text>']
    for k in range(5):
        v = lo + span * k / 4
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#ddd"/>'
                     f'<text x="{left - 6}" y="{y(v) + 4:.1f}" text-anchor="end" font-size="11" '
                     f'font-family="sans-serif">{v:.2g}</text>')
    for i in range(n):
        if n <= 20 or i % max(1, n // 10) == 0:
            parts.append(f'<text x="{x(i):.1f}" y="{height - bottom + 16}" text-anchor="middle" font-size="11" '
                         f'font-family="sans-serif">{i}</text>')
    parts.append(f'<text x="{left + plot_w / 2}" y="{height - 6}" text-anchor="middle" font-size="12" '
                 f'font-family="sans-serif">{html.escape(x_label)}</text>')
    legend_x = left + 8
    for idx, (name, values) in enumerate(series.items()):
        color = COLORS[idx % len(COLORS)]
        points = [(x(i), y(v)) for i, v in enumerate(values) if v is not None]
        if len(points) > 1:
            path = " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
            parts.append(f'<polyline class="series" fill="none" stroke="{color}" stroke-width="2" points="{path}"/>')
        parts.extend(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3.5" fill="{color}"/>' for px, py in points)
        parts.append(f'<rect x="{legend_x}" y="{top - 26}" width="12" height="12" fill="{color}"/>'
                     f'<text x="{legend_x + 16}" y="{top - 16}" font-size="12" font-family="sans-serif">'
                     f'{html.escape(name)}</text>')
        legend_x += 32 + 7 * len(name)  # rough width of 12px sans-serif text
    parts.append("</svg>")
    return "".join(parts)
