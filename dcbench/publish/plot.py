"""Accuracy against images per class as a small self-contained SVG (no plotting library needed)."""

from __future__ import annotations

import math
from html import escape

from dcbench.leaderboard import Leaderboard, Method, Setting, networks_of

WIDTH, HEIGHT = 720, 380
LEFT, RIGHT, TOP, BOTTOM = 56, 250, 28, 46  # the right margin holds the legend
LEGEND_CHARS = 32  # longer labels are cut (the full one is the tooltip) so they stay inside the picture
# Tableau's ten colours: distinct in print and for the common colour-vision deficiencies.
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf"]


def plot_groups(board: Leaderboard, profile: str) -> list[Setting]:
    """One plot per data set (with its serving options) of a profile: the whole-data setting names it."""
    return sorted({s.whole for s in board.settings(profile)}, key=Setting.order)


def accuracy_plot(board: Leaderboard, data: Setting) -> str:
    """Each method's Table 1 entry at every ipc, ± std as bars; whole data as a dashed line."""
    settings = [s for s in board.settings(data.profile) if s.whole == data]
    ipcs = sorted({s.ipc for s in settings})
    methods = sorted({m for s in settings for m in board.methods(s)}, key=Method.order)
    series = []
    for method in methods:
        points = [(s.ipc, e) for s in settings if (e := board.default(s, method)) is not None]
        series.append((method, points))
    wholes = [e for m in board.methods(data) if (e := board.default(data, m)) is not None]
    values = [e.score.mean for _, pts in series for _, e in pts] + [e.score.mean for e in wholes]
    low = max(0.0, math.floor((min(values) - 0.05) * 10) / 10)

    def x(ipc: int) -> float:
        if len(ipcs) == 1:
            return LEFT + (WIDTH - LEFT - RIGHT) / 2
        span = math.log(ipcs[-1]) - math.log(ipcs[0])
        return LEFT + 10 + (WIDTH - LEFT - RIGHT - 20) * (math.log(ipc) - math.log(ipcs[0])) / span

    def y(accuracy: float) -> float:
        return TOP + (HEIGHT - TOP - BOTTOM) * (1 - (accuracy - low) / (1 - low))

    title = f"Test accuracy vs images per class · {data.data} · profile {data.profile}"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'role="img" aria-label="{escape(title)}" font-family="sans-serif" font-size="12">',
        f"<title>{escape(title)}</title>",
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#fff"/>',
    ]
    step = 0.1 if 1 - low > 0.3 else 0.05
    tick = low
    while tick <= 1.0 + 1e-9:
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" stroke="#e5e5e5"/>'
                     f'<text x="{LEFT - 6}" y="{y(tick) + 4:.1f}" text-anchor="end">{100 * tick:.0f}</text>')
        tick += step
    for ipc in ipcs:
        parts.append(f'<text x="{x(ipc):.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle">{ipc}</text>')
    parts += [
        f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{HEIGHT - BOTTOM}" y2="{HEIGHT - BOTTOM}" stroke="#333"/>',
        f'<line x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{HEIGHT - BOTTOM}" stroke="#333"/>',
        f'<text x="{(LEFT + WIDTH - RIGHT) / 2:.0f}" y="{HEIGHT - 8}" text-anchor="middle">images per class'
        f'{" (log scale)" if len(ipcs) > 1 else ""}</text>',
        f'<text transform="translate(14 {(TOP + HEIGHT - BOTTOM) / 2:.0f}) rotate(-90)" text-anchor="middle">'
        "test accuracy %</text>",
    ]
    legend_y = TOP
    for i, (method, points) in enumerate(series):
        colour = PALETTE[i % len(PALETTE)]
        if len(points) > 1:
            path = " ".join(f"{x(ipc):.1f},{y(e.score.mean):.1f}" for ipc, e in points)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for ipc, e in points:
            cx, top, bottom = x(ipc), y(min(1.0, e.score.mean + e.score.std)), y(max(low, e.score.mean - e.score.std))
            parts.append(f'<line x1="{cx:.1f}" x2="{cx:.1f}" y1="{top:.1f}" y2="{bottom:.1f}" stroke="{colour}"/>'
                         f'<circle cx="{cx:.1f}" cy="{y(e.score.mean):.1f}" r="4" fill="{colour}">'
                         f"<title>{escape(method.label)} · ipc {ipc} · {networks_of(e)}: {e.score}</title></circle>")
        parts.append(_legend(legend_y, colour, method.label))
        legend_y += 18
    for e in wholes:
        level = y(e.score.mean)
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{level:.1f}" y2="{level:.1f}" stroke="#000" '
                     f'stroke-dasharray="6 4"><title>whole data · {networks_of(e)}: {e.score}</title></line>')
        parts.append(_legend(legend_y, "#000", f"whole data ({networks_of(e)})", dashed=True))
        legend_y += 18
    parts.append("</svg>")
    return "\n".join(parts)


def _legend(top: float, colour: str, label: str, *, dashed: bool = False) -> str:
    left = WIDTH - RIGHT + 16
    dash = ' stroke-dasharray="6 4"' if dashed else ""
    shown = label if len(label) <= LEGEND_CHARS else label[:LEGEND_CHARS - 1] + "…"
    return (f'<line x1="{left}" x2="{left + 22}" y1="{top + 6}" y2="{top + 6}" stroke="{colour}" '
            f'stroke-width="2"{dash}/>'
            f'<text x="{left + 28}" y="{top + 10}">{escape(shown)}<title>{escape(label)}</title></text>')
