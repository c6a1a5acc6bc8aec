"""Inline SVG charts for the HTML report, drawn from plain numbers with no plotting library.

The report must open with no network and stay small, so each chart is a short SVG string that is
pasted into the page. Every label is XML-escaped: model names and countries come from user files.
Values are percentages (0-100); a missing value is drawn as an empty, labelled cell, never as 0.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape

SERIES_COLORS: tuple[str, ...] = (
    "#3b6fb6",
    "#e08a2c",
    "#3f9b6e",
    "#b5465a",
    "#7a5fb0",
    "#2f9fb5",
    "#8c6d3f",
    "#c65fa0",
)
"""Distinct colours for models (series), readable on white and for common colour-vision deficiencies."""

PAIR_COLORS: tuple[str, str] = ("#3b6fb6", "#e08a2c")
_FONT = "font-family=\"system-ui, -apple-system, 'Segoe UI', sans-serif\""
_MUTED = "#6b7280"
_GRID = "#e5e7eb"


@dataclass(frozen=True)
class Estimate:
    """A percentage with its 95% interval (either bound may be unknown) and its sample size."""

    mean: float
    low: float | None = None
    high: float | None = None
    n: int | None = None

    def describe(self) -> str:
        """`61.8% [55.0, 68.1] (n=120)`, for tooltips."""
        text = f"{self.mean:.1f}%"
        if self.low is not None and self.high is not None:
            text += f" [{self.low:.1f}, {self.high:.1f}]"
        if self.n is not None:
            text += f" (n={self.n})"
        return text


def _text(x: float, y: float, content: str, *, anchor: str = "middle", size: int = 12, **attrs: str) -> str:
    extra = "".join(f' {key.replace("_", "-")}="{escape(value)}"' for key, value in attrs.items())
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}"{extra}>'
        f"{escape(content)}</text>"
    )


def _svg(width: float, height: float, body: Sequence[str], label: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width:.0f} {height:.0f}" '
        f'width="{width:.0f}" height="{height:.0f}" role="img" aria-label="{escape(label)}" {_FONT}>'
        f"<title>{escape(label)}</title>" + "".join(body) + "</svg>"
    )


def _clamp(value: float) -> float:
    return max(0.0, min(100.0, value))


def grouped_bar_chart(
    groups: Sequence[str],
    series: Sequence[str],
    values: Mapping[tuple[str, str], Estimate | None],
    *,
    title: str,
    group_labels: Mapping[str, str] | None = None,
) -> str:
    """Vertical bars on a 0-100 axis: one cluster per group, one bar per series, whiskers for intervals.

    `values[(group, series)]`; a missing entry leaves a gap marked "n/a".
    """
    bar_w = max(10.0, min(34.0, 150.0 / max(1, len(series))))
    cluster_w = bar_w * len(series) + 28
    left, top, plot_h = 44.0, 20.0, 200.0
    legend_rows = (len(series) + 2) // 3
    width = max(360.0, left + cluster_w * len(groups) + 12)
    height = top + plot_h + 30 + 20 * legend_rows + 8
    body: list[str] = []
    for tick in range(0, 101, 20):
        y = top + plot_h * (1 - tick / 100)
        body.append(f'<line x1="{left}" x2="{width - 8}" y1="{y:.1f}" y2="{y:.1f}" stroke="{_GRID}"/>')
        body.append(_text(left - 6, y + 4, f"{tick}", anchor="end", size=11, fill=_MUTED))
    for gi, group in enumerate(groups):
        x0 = left + gi * cluster_w + 14
        label = (group_labels or {}).get(group, group)
        body.append(_text(x0 + bar_w * len(series) / 2, top + plot_h + 18, label, size=12))
        for si, name in enumerate(series):
            x = x0 + si * bar_w
            color = SERIES_COLORS[si % len(SERIES_COLORS)]
            estimate = values.get((group, name))
            if estimate is None:
                body.append(_text(x + bar_w / 2, top + plot_h - 4, "n/a", size=9, fill=_MUTED))
                continue
            h = plot_h * _clamp(estimate.mean) / 100
            tip = f"{name} · {label}: {estimate.describe()}"
            body.append(
                f'<rect class="bar" x="{x + 1:.1f}" y="{top + plot_h - h:.1f}" width="{bar_w - 2:.1f}" '
                f'height="{h:.1f}" fill="{color}" rx="2"><title>{escape(tip)}</title></rect>'
            )
            if estimate.low is not None and estimate.high is not None:
                y_lo = top + plot_h * (1 - _clamp(estimate.low) / 100)
                y_hi = top + plot_h * (1 - _clamp(estimate.high) / 100)
                cx = x + bar_w / 2
                body.append(
                    f'<path d="M{cx:.1f},{y_lo:.1f}V{y_hi:.1f}M{cx - 3:.1f},{y_lo:.1f}h6M{cx - 3:.1f},'
                    f'{y_hi:.1f}h6" stroke="#111827" stroke-width="1.2" fill="none"/>'
                )
    legend_y = top + plot_h + 36
    for si, name in enumerate(series):
        lx = left + (si % 3) * ((width - left) / 3)
        ly = legend_y + (si // 3) * 20
        color = SERIES_COLORS[si % len(SERIES_COLORS)]
        body.append(f'<rect x="{lx:.1f}" y="{ly - 9:.1f}" width="11" height="11" fill="{color}" rx="2"/>')
        body.append(_text(lx + 16, ly + 1, _shorten(name, 40), anchor="start", size=12))
    return _svg(width, height, body, title)


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _heat_color(value: float) -> str:
    """White-to-teal ramp for 0-100: darker means a higher rate."""
    t = _clamp(value) / 100
    start, end = (247, 251, 255), (8, 104, 112)
    r, g, b = (round(a + (z - a) * t) for a, z in zip(start, end, strict=True))
    return f"#{r:02x}{g:02x}{b:02x}"


def heatmap(
    rows: Sequence[str],
    columns: Sequence[str],
    values: Mapping[tuple[str, str], Estimate | None],
    *,
    title: str,
    column_labels: Mapping[str, str] | None = None,
) -> str:
    """A rows x columns grid of percentages, shaded by value; missing cells are hatched and say "n/a"."""
    label_w = max(80.0, 7.2 * max((len(r) for r in rows), default=4) + 12)
    cell_w, cell_h, top = 92.0, 26.0, 28.0
    width = label_w + cell_w * len(columns) + 8
    height = top + cell_h * len(rows) + 6
    # A page holds several heatmaps, some hidden: each needs its own pattern id to stay drawable.
    hatch_id = "hatch-" + hashlib.sha1(f"{title}|{rows}|{columns}".encode()).hexdigest()[:10]
    body: list[str] = [
        f'<defs><pattern id="{hatch_id}" width="6" height="6" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><line y2="6" stroke="#d1d5db" stroke-width="2"/></pattern></defs>'
    ]
    for ci, column in enumerate(columns):
        label = (column_labels or {}).get(column, column)
        body.append(_text(label_w + ci * cell_w + cell_w / 2, top - 10, label, size=12, font_weight="600"))
    for ri, row in enumerate(rows):
        y = top + ri * cell_h
        body.append(_text(label_w - 8, y + cell_h / 2 + 4, row, anchor="end", size=12))
        for ci, column in enumerate(columns):
            x = label_w + ci * cell_w
            estimate = values.get((row, column))
            if estimate is None:
                body.append(
                    f'<rect x="{x + 1:.1f}" y="{y + 1:.1f}" width="{cell_w - 2:.1f}" height="{cell_h - 2:.1f}" '
                    f'fill="url(#{hatch_id})"><title>{escape(f"{row} · {column}: no scored verdicts")}</title></rect>'
                )
                body.append(_text(x + cell_w / 2, y + cell_h / 2 + 4, "n/a", size=11, fill=_MUTED))
                continue
            ink = "#ffffff" if estimate.mean >= 55 else "#111827"
            tip = f"{row} · {(column_labels or {}).get(column, column)}: {estimate.describe()}"
            body.append(
                f'<rect class="cell" x="{x + 1:.1f}" y="{y + 1:.1f}" width="{cell_w - 2:.1f}" '
                f'height="{cell_h - 2:.1f}" fill="{_heat_color(estimate.mean)}" rx="2">'
                f"<title>{escape(tip)}</title></rect>"
            )
            body.append(_text(x + cell_w / 2, y + cell_h / 2 + 4, f"{estimate.mean:.1f}", size=12, fill=ink))
    return _svg(width, height, body, title)


_DOT_R = 5.0
"""Radius of a dumbbell chart's dots."""


def dumbbell_grid(
    rows: Sequence[str],
    columns: Sequence[str],
    pairs: Mapping[tuple[str, str], tuple[Estimate | None, Estimate | None]],
    *,
    title: str,
    pair_labels: tuple[str, str],
    column_labels: Mapping[str, str] | None = None,
) -> str:
    """For each (row, column) two dots on a 0-100 track joined by a line: the gap between two settings.

    Used for English vs translated queries per language: the line's length is the cost of translation.
    """
    label_w = max(80.0, 7.2 * max((len(r) for r in rows), default=4) + 12)
    track_w, gap, row_h, top = 230.0, 40.0, 24.0, 46.0
    width = label_w + (track_w + gap) * len(columns) + 4
    height = top + row_h * len(rows) + 10
    body: list[str] = []
    for pi, name in enumerate(pair_labels):
        lx = label_w + pi * 130
        body.append(f'<circle cx="{lx + 5:.1f}" cy="9" r="5" fill="{PAIR_COLORS[pi]}"/>')
        body.append(_text(lx + 14, 13, name, anchor="start", size=12))
    for ci, column in enumerate(columns):
        x0 = label_w + ci * (track_w + gap)
        label = (column_labels or {}).get(column, column)
        body.append(_text(x0 + track_w / 2, top - 14, label, size=12, font_weight="600"))
        for tick in (0, 50, 100):
            tx = x0 + track_w * tick / 100
            body.append(
                f'<line x1="{tx:.1f}" x2="{tx:.1f}" y1="{top - 6:.1f}" y2="{top + row_h * len(rows):.1f}" '
                f'stroke="{_GRID}"/>'
            )
            body.append(_text(tx, top + row_h * len(rows) + 10, str(tick), size=9, fill=_MUTED))
    for ri, row in enumerate(rows):
        y = top + ri * row_h + row_h / 2
        body.append(_text(label_w - 8, y + 4, row, anchor="end", size=12))
        for ci, column in enumerate(columns):
            x0 = label_w + ci * (track_w + gap)
            first, second = pairs.get((row, column), (None, None))
            xs = [None if e is None else x0 + track_w * _clamp(e.mean) / 100 for e in (first, second)]
            if xs[0] is not None and xs[1] is not None:
                body.append(
                    f'<line x1="{xs[0]:.1f}" x2="{xs[1]:.1f}" y1="{y:.1f}" y2="{y:.1f}" '
                    f'stroke="#9ca3af" stroke-width="3"/>'
                )
            # Dots closer than a diameter would hide one another: set them apart vertically so both show.
            overlap = xs[0] is not None and xs[1] is not None and abs(xs[0] - xs[1]) < _DOT_R * 2
            for pi, (estimate, x) in enumerate(zip((first, second), xs, strict=True)):
                if estimate is None or x is None:
                    continue
                column_label = (column_labels or {}).get(column, column)
                tip = f"{row} · {column_label} · {pair_labels[pi]}: {estimate.describe()}"
                cy = y + (_DOT_R * 0.8 * (1 if pi else -1) if overlap else 0.0)
                body.append(
                    f'<circle class="dot" cx="{x:.1f}" cy="{cy:.1f}" r="{_DOT_R:g}" fill="{PAIR_COLORS[pi]}">'
                    f"<title>{escape(tip)}</title></circle>"
                )
            if first is None and second is None:
                body.append(_text(x0 + track_w / 2, y + 4, "n/a", size=10, fill=_MUTED))
    return _svg(width, height, body, title)
