"""Inline SVG for the dashboard: series over days, a heat map, events on the same axis.

Every chart shares one horizontal axis, a column per day (:class:`DayAxis`), so a
stopped day, a drift cell, a rejected model and a rollback line up vertically. As in
:mod:`pipeline.views.charts`, the markup is written here from plain numbers, every
label goes through :func:`~pipeline.views.charts.esc`, each mark carries an SVG
``<title>`` (the browser's tooltip, no JavaScript) and geometry is rounded so the
same history always renders the same page.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence

from markupsafe import Markup

from pipeline.views.charts import esc, fmt

# The plot's left margin holds the y labels (or the heat map's feature names).
LEFT = 150
# Colours: passed / stopped / no run, the series of the model chart, the events.
PASSED = "#7cc47a"
STOPPED = "#e0584f"
NO_RUN = "#d9d9d9"
CANDIDATE = "#2f6fb3"
BASELINE = "#a0a0a0"
SERVED = "#1d7a1d"
EVENT_COLOURS = {"push": "#1d7a1d", "rollback": "#b3261e", "promote": "#7a4fb3"}
# A palette for the stacked component bars and the slice lines, in a fixed order.
PALETTE = (
    "#4e79a7",
    "#f28e2b",
    "#e15759",
    "#76b7b2",
    "#59a14f",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
)


@dataclasses.dataclass(frozen=True)
class DayAxis:
    """The days' horizontal axis: one column per day, oldest on the left.

    Attributes:
        labels: Each day's label (``2026-11-04``).
        column: A column's width in pixels.
    """

    labels: tuple[str, ...]
    column: float

    @classmethod
    def fit(cls, labels: Sequence[str], width: int = 760) -> DayAxis:
        """An axis whose columns fill ``width`` (a year of days: 2 px each).

        Args:
            labels: The days' labels, oldest first.
            width: The plot's width in pixels.

        Returns:
            The axis.
        """
        return cls(tuple(labels), max(round(width / max(len(labels), 1), 2), 1.0))

    @property
    def width(self) -> float:
        """The plot's width in pixels."""
        return round(self.column * len(self.labels), 1)

    def x(self, index: int) -> float:
        """The centre of day ``index``'s column."""
        return round(LEFT + (index + 0.5) * self.column, 1)

    def ticks(self, top: float) -> str:
        """Day labels under a plot: about ten, first and last always.

        Args:
            top: Where the labels' baseline goes.

        Returns:
            SVG ``<text>`` elements.
        """
        step = max(1, math.ceil(len(self.labels) / 10))
        shown = sorted(set(range(0, len(self.labels), step)) | {len(self.labels) - 1})
        return "".join(
            f'<text x="{self.x(i)}" y="{top}" font-size="10" text-anchor="middle">'
            f"{esc(self.labels[i])}</text>"
            for i in shown
            if i >= 0
        )


def _svg(css: str, axis: DayAxis, height: float) -> str:
    return (
        f'<svg class="{css}" xmlns="http://www.w3.org/2000/svg" width="{LEFT + axis.width + 40}" '
        f'height="{round(height, 1)}" role="img">'
    )


def _bar_scale(label: str, top: float) -> str:
    # A bar chart's y axis: its name, and the value of a full-height bar.
    return (
        f'<text x="{LEFT - 6}" y="12" font-size="11" text-anchor="end">{esc(label)}</text>'
        f'<text x="{LEFT - 6}" y="26" font-size="10" text-anchor="end">{esc(fmt(top, 0))}</text>'
    )


def _bar_width(axis: DayAxis) -> float:
    return max(round(axis.column * 0.8, 1), 2.0)


def _scale(values: Sequence[float]) -> tuple[float, float]:
    # A line chart's y range: the values', widened a little when they are all equal.
    lo, hi = min(values), max(values)
    if hi - lo < 1e-12:
        lo, hi = lo - 0.5 * (abs(lo) or 1.0) * 0.1, hi + 0.5 * (abs(hi) or 1.0) * 0.1
    return lo, hi


def svg_day_bars(
    axis: DayAxis,
    values: Sequence[float | None],
    colours: Sequence[str],
    titles: Sequence[str],
    label: str,
    height: int = 90,
) -> Markup:
    """One bar per day (a day without a value gets a stub in its colour).

    Args:
        axis: The days' axis.
        values: Each day's value (None: nothing measured).
        colours: Each day's bar colour.
        titles: Each day's tooltip.
        label: The y axis's name.
        height: The plot's height (the day labels take 14 more).

    Returns:
        An ``<svg>`` element.
    """
    finite = [v for v in values if v is not None and math.isfinite(v)]
    top = max(finite, default=0.0) or 1.0
    parts = [_svg("day-bars", axis, height + 14), _bar_scale(label, top)]
    bar = _bar_width(axis)
    for index, (value, colour, title) in enumerate(zip(values, colours, titles, strict=True)):
        h = 3.0 if value is None else max(round(value / top * (height - 4), 1), 1.0)
        parts.append(
            f'<rect class="day" x="{round(axis.x(index) - bar / 2, 1)}" y="{round(height - h, 1)}" '
            f'width="{bar}" height="{h}" fill="{colour}"><title>{esc(title)}</title></rect>'
        )
    parts.append(axis.ticks(height + 12))
    parts.append("</svg>")
    return Markup("".join(parts))


@dataclasses.dataclass(frozen=True)
class Series:
    """One line of a line chart.

    Attributes:
        name: Shown in the legend and the tooltips.
        values: One value per day (None: a gap).
        colour: The line's colour.
        dashed: Whether the line is dashed.
        step: Whether the line holds its value until the next day's (a served model).
        marks: Per-day point colour overrides (e.g. a rejected candidate), or empty.
    """

    name: str
    values: tuple[float | None, ...]
    colour: str
    dashed: bool = False
    step: bool = False
    marks: tuple[str | None, ...] = ()


def svg_lines(
    axis: DayAxis, series: Sequence[Series], label: str, height: int = 150, digits: int = 4
) -> Markup:
    """Lines over days on one y scale, with a point and a tooltip per value.

    Args:
        axis: The days' axis.
        series: The lines, drawn in order (the last on top).
        label: The y axis's name.
        height: The plot's height (the day labels and the legend take 30 more).
        digits: Digits in the tooltips and the y labels.

    Returns:
        An ``<svg>`` element (axes only when no series has a value).
    """
    values = [v for s in series for v in s.values if v is not None and math.isfinite(v)]
    lo, hi = _scale(values or [0.0, 1.0])

    def y(value: float) -> float:
        return round(6 + (hi - value) / (hi - lo) * (height - 12), 1)

    parts = [_svg("lines", axis, height + 30)]
    # Points no wider than a day's column, so a year of them stays a line.
    radius = round(min(2.6, max(axis.column * 0.45, 0.8)), 2)
    parts.append(
        f'<text x="{LEFT - 6}" y="{y(hi) + 4}" font-size="10" text-anchor="end">'
        f"{esc(fmt(hi, digits))}</text>"
        f'<text x="{LEFT - 6}" y="{y(lo)}" font-size="10" text-anchor="end">'
        f"{esc(fmt(lo, digits))}</text>"
        f'<text x="{LEFT - 6}" y="{round(height / 2, 1)}" font-size="11" text-anchor="end">'
        f"{esc(label)}</text>"
        f'<line x1="{LEFT}" y1="{height}" x2="{LEFT + axis.width}" y2="{height}" stroke="#bbb"/>'
    )
    for line in series:
        dash = ' stroke-dasharray="5,3"' if line.dashed else ""
        segment: list[str] = []
        runs: list[list[str]] = []
        for index, value in enumerate(line.values):
            if value is None or not math.isfinite(value):
                if segment:
                    runs.append(segment)
                segment = []
                continue
            x = axis.x(index)
            if line.step and segment:
                segment.append(f"{x},{segment[-1].split(',')[1]}")
            segment.append(f"{x},{y(value)}")
        if segment:
            runs.append(segment)
        for points in runs:
            parts.append(
                f'<polyline class="series" data-series="{esc(line.name)}" fill="none" '
                f'stroke="{line.colour}" stroke-width="1.8"{dash} points="{" ".join(points)}"/>'
            )
        for index, value in enumerate(line.values):
            if value is None or not math.isfinite(value):
                continue
            mark = line.marks[index] if index < len(line.marks) else None
            parts.append(
                f'<circle class="point" cx="{axis.x(index)}" cy="{y(value)}" r="{radius}" '
                f'fill="{mark or line.colour}"><title>{esc(axis.labels[index])} '
                f"{esc(line.name)}: {esc(fmt(value, digits))}</title></circle>"
            )
    parts.append(axis.ticks(height + 12))
    x = LEFT
    for line in series:
        parts.append(
            f'<rect x="{x}" y="{height + 20}" width="10" height="3" fill="{line.colour}"/>'
            f'<text x="{x + 14}" y="{height + 25}" font-size="10">{esc(line.name)}</text>'
        )
        x += 24 + 6 * len(line.name)
    parts.append("</svg>")
    return Markup("".join(parts))


def heat_colour(share: float | None) -> str:
    """A drift cell's colour: white at 0, orange towards the limit, red past it.

    Args:
        share: The distance over its limit (None: not measured).

    Returns:
        A CSS colour.
    """
    if share is None or not math.isfinite(share):
        return "#f3f3f3" if share is None else "#7f0000"
    if share > 1.0:
        return "#b3261e"
    level = max(share, 0.0)
    # White (255,255,255) to orange (245,160,60) as the share nears the limit.
    red = round(255 - 10 * level)
    green = round(255 - 95 * level)
    blue = round(255 - 195 * level)
    return f"#{red:02x}{green:02x}{blue:02x}"


def svg_heat_map(
    axis: DayAxis,
    features: Sequence[str],
    cells: Sequence[Mapping[str, tuple[float, str]]],
    row_height: int = 14,
) -> Markup:
    """Features by days: each cell the day's drift as a share of its limit.

    Args:
        axis: The days' axis.
        features: The rows, top to bottom.
        cells: Per day: feature -> (share of the limit, tooltip text).
        row_height: A row's height in pixels.

    Returns:
        An ``<svg>`` element; a cell over its limit is red and outlined.
    """
    height = max(len(features), 1) * row_height
    parts = [_svg("heat-map", axis, height + 16)]
    # A pixel between days while there is room for one.
    gap_width = round(axis.column - (1 if axis.column >= 4 else 0), 2)
    for row, feature in enumerate(features):
        top = row * row_height
        shown = feature if len(feature) <= 22 else feature[:21] + "\u2026"
        parts.append(
            f'<text x="{LEFT - 6}" y="{top + row_height - 3}" font-size="11" text-anchor="end">'
            f"<title>{esc(feature)}</title>{esc(shown)}</text>"
        )
        for index, day in enumerate(cells):
            share, title = day.get(feature, (None, f"{axis.labels[index]} {feature}: not measured"))
            over = share is not None and share > 1.0
            stroke = ' stroke="#5a0000" stroke-width="1"' if over else ""
            parts.append(
                f'<rect class="cell{" over" if over else ""}" data-feature="{esc(feature)}" '
                f'x="{round(LEFT + index * axis.column, 1)}" y="{top}" '
                f'width="{gap_width}" height="{row_height - 1}" '
                f'fill="{heat_colour(share)}"{stroke}><title>{esc(title)}</title></rect>'
            )
    parts.append(axis.ticks(height + 12))
    parts.append("</svg>")
    return Markup("".join(parts))


def svg_events(axis: DayAxis, events: Sequence[tuple[int, str, str]], height: int = 34) -> Markup:
    """Pushes, rollbacks and promotions as marks on the days' axis.

    Args:
        axis: The days' axis.
        events: ``(day index, kind, tooltip)``; kinds as :data:`EVENT_COLOURS`.
        height: The strip's height.

    Returns:
        An ``<svg>`` element: a triangle up per push, down per rollback, a diamond
        per promotion; several on one day are stacked.
    """
    parts = [_svg("events", axis, height)]
    parts.append(
        f'<text x="{LEFT - 6}" y="{round(height / 2 + 4, 1)}" font-size="11" '
        f'text-anchor="end">serving</text>'
        f'<line x1="{LEFT}" y1="{round(height / 2, 1)}" x2="{LEFT + axis.width}" '
        f'y2="{round(height / 2, 1)}" stroke="#ddd"/>'
    )
    stacked: dict[int, int] = {}
    for index, kind, title in events:
        x = axis.x(index)
        level = stacked.get(index, 0)
        stacked[index] = level + 1
        cy = round(height / 2 - 8 * level + (4 if level else 0), 1)
        shape = {
            "push": f"{x - 5},{cy + 5} {x + 5},{cy + 5} {x},{cy - 5}",
            "rollback": f"{x - 5},{cy - 5} {x + 5},{cy - 5} {x},{cy + 5}",
        }.get(kind, f"{x},{cy - 5} {x + 5},{cy} {x},{cy + 5} {x - 5},{cy}")
        parts.append(
            f'<polygon class="event {esc(kind)}" points="{shape}" '
            f'fill="{EVENT_COLOURS.get(kind, "#555")}"><title>{esc(title)}</title></polygon>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def svg_stacked(
    axis: DayAxis,
    parts_per_day: Sequence[Mapping[str, float]],
    order: Sequence[str],
    label: str,
    height: int = 110,
) -> Markup:
    """One stacked bar per day: each component's seconds, in ``order`` from the bottom.

    Args:
        axis: The days' axis.
        parts_per_day: Per day: component -> seconds.
        order: The components, bottom first (colours follow :data:`PALETTE`).
        label: The y axis's name.
        height: The plot's height (labels and legend take 30 more).

    Returns:
        An ``<svg>`` element.
    """
    totals = [sum(day.values()) for day in parts_per_day]
    top = max(totals, default=0.0) or 1.0
    svg = [_svg("stacked", axis, height + 30), _bar_scale(label, top)]
    bar = _bar_width(axis)
    for index, day in enumerate(parts_per_day):
        base = float(height)
        for number, part in enumerate(order):
            seconds = day.get(part)
            if not seconds:
                continue
            h = round(seconds / top * (height - 4), 1)
            base = round(base - h, 1)
            svg.append(
                f'<rect class="part" x="{round(axis.x(index) - bar / 2, 1)}" y="{base}" '
                f'width="{bar}" height="{h}" fill="{PALETTE[number % len(PALETTE)]}">'
                f"<title>{esc(axis.labels[index])} {esc(part)}: {fmt(seconds, 1)} s</title></rect>"
            )
    svg.append(axis.ticks(height + 12))
    x = LEFT
    for number, part in enumerate(order):
        svg.append(
            f'<rect x="{x}" y="{height + 18}" width="8" height="8" '
            f'fill="{PALETTE[number % len(PALETTE)]}"/>'
            f'<text x="{x + 11}" y="{height + 26}" font-size="10">{esc(part)}</text>'
        )
        x += 20 + 6 * len(part)
    svg.append("</svg>")
    return Markup("".join(svg))
