"""Inline SVG for the run report: bar charts, histograms and the lineage graph.

The page needs no network and no JavaScript, so charts are SVG markup written here
from plain numbers. Every label goes through :func:`esc`; the functions return
``markupsafe.Markup`` so the report's Jinja2 templates (autoescaped) insert them as
they are. Geometry is rounded and inputs are drawn in a fixed order, so the same run
always renders the same page.
"""

from __future__ import annotations

import dataclasses
import html
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from markupsafe import Markup

# Node colours by state (the legend on the page uses the same table).
STATE_COLOURS = {
    "ran": "#b7e1b5",
    "cached": "#b9d7f3",
    "resolved": "#ddd3f2",
    "failed": "#f4b6b0",
    "running": "#fbe3a7",
    "new": "#eeeeee",
    "canceled": "#d9d9d9",
}
UNKNOWN_COLOUR = "#eeeeee"
NEW_COLOUR = "#2f6fb3"
PREVIOUS_COLOUR = "#a0a0a0"

Bucket = tuple[float, float, float]  # (low, high, sample count)

# The lineage graph's boxes and rows, in pixels.
_BOX_WIDTH, _BOX_HEIGHT, _ROW_HEIGHT = 240, 30, 58


def esc(value: Any) -> str:
    """Escapes anything for SVG/HTML text or a quoted attribute.

    Args:
        value: Any value; it is converted with ``str``.

    Returns:
        The escaped text (``&``, ``<``, ``>``, ``"`` and ``'`` replaced).
    """
    return html.escape(str(value), quote=True)


def fmt(value: float | int | None, digits: int = 4) -> str:
    """Formats a number for a table cell or a chart label.

    Args:
        value: The number, or None.
        digits: Digits after the decimal point for floats.

    Returns:
        ``-`` for None, the integer for ints, else ``value`` with ``digits`` digits.
    """
    if value is None:
        return "-"
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not math.isfinite(value):
        return str(value)
    return f"{value:.{digits}f}"


def metric_text(name: str, value: float | None) -> str:
    """Formats a metric: counts as integers, everything else with four digits.

    Args:
        name: The metric name (TFMA's key, e.g. ``example_count``).
        value: Its value, or None.

    Returns:
        The cell text.
    """
    if value is not None and name.endswith("count") and float(value).is_integer():
        return str(int(value))
    return fmt(value)


def bar_width(value: float, scale: float, width: float) -> float:
    """The length of a bar for ``value`` on an axis where ``scale`` fills ``width``.

    Args:
        value: The bar's value (negative and non-finite values draw nothing).
        scale: The value that maps to the full width (the largest bar, usually).
        width: The full width in pixels.

    Returns:
        The bar length in pixels, rounded to 0.1 px, between 0 and ``width``.
    """
    if scale <= 0 or not math.isfinite(value) or not math.isfinite(scale) or value <= 0:
        return 0.0
    return round(min(value / scale, 1.0) * width, 1)


def svg_bar_chart(
    rows: Sequence[tuple[str, float, float | None]],
    width: int = 300,
    label_width: int = 110,
    row_height: int = 16,
) -> Markup:
    """A horizontal bar chart comparing two series per label (new vs previous).

    Args:
        rows: ``(label, new value, previous value or None)`` per row, in order.
        width: The bars' width in pixels (labels come on top of it).
        label_width: The label column's width in pixels.
        row_height: Height of one row (both bars).

    Returns:
        An ``<svg>`` element; labels are escaped and values scale to the largest.
    """
    scale = max([v for _, new, old in rows for v in (new, old) if v is not None] + [0.0])
    height = max(len(rows), 1) * row_height + 4
    parts = [
        f'<svg class="bars" xmlns="http://www.w3.org/2000/svg" width="{label_width + width}" '
        f'height="{height}" role="img">'
    ]
    for index, (label, new, old) in enumerate(rows):
        top = 2 + index * row_height
        shown = label if len(label) <= 16 else label[:15] + "\u2026"
        parts.append(
            f'<text x="{label_width - 4}" y="{top + row_height - 5}" font-size="11" '
            f'text-anchor="end"><title>{esc(label)}</title>{esc(shown)}</text>'
        )
        half = (row_height - 2) / 2
        parts.append(
            f'<rect class="new" x="{label_width}" y="{top}" width="{bar_width(new, scale, width)}" '
            f'height="{half}" fill="{NEW_COLOUR}"><title>{esc(label)}: {fmt(new)}</title></rect>'
        )
        if old is not None:
            parts.append(
                f'<rect class="previous" x="{label_width}" y="{top + half}" '
                f'width="{bar_width(old, scale, width)}" height="{half}" '
                f'fill="{PREVIOUS_COLOUR}"><title>{esc(label)}: {fmt(old)}</title></rect>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))


def svg_histogram(
    new: Sequence[Bucket], previous: Sequence[Bucket] | None, width: int = 300, height: int = 70
) -> Markup:
    """Two histograms on one value axis: the new span filled, the previous outlined.

    Each histogram is scaled to its share of examples per bucket, so spans with
    different row counts compare by shape.

    Args:
        new: The new span's buckets ``(low, high, count)``.
        previous: The previous span's buckets, if any.
        width: Chart width in pixels.
        height: Chart height in pixels (the axis labels take 12 more).

    Returns:
        An ``<svg>`` element (empty axes when there are no finite buckets).
    """
    series = [("new", list(new)), ("previous", list(previous or []))]
    finite = [
        (name, [(lo, hi, n) for lo, hi, n in buckets if math.isfinite(lo) and math.isfinite(hi)])
        for name, buckets in series
    ]
    edges = [v for _, buckets in finite for lo, hi, _ in buckets for v in (lo, hi)]
    low, high = (min(edges), max(edges)) if edges else (0.0, 1.0)
    span = (high - low) or 1.0
    parts = [
        f'<svg class="hist" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height + 12}" role="img">',
        f'<line x1="0" y1="{height}" x2="{width}" y2="{height}" stroke="#888"/>',
    ]
    shares = {
        name: [(lo, hi, n / (sum(c for _, _, c in buckets) or 1.0)) for lo, hi, n in buckets]
        for name, buckets in finite
    }
    scale = max([share for buckets in shares.values() for _, _, share in buckets] + [0.0])
    for name, buckets in sorted(shares.items(), key=lambda item: item[0] != "previous"):
        # The previous span is drawn first (outlined), the new one over it (translucent).
        for lo, hi, share in buckets:
            x = round((lo - low) / span * width, 1)
            w = max(round((hi - lo) / span * width, 1), 1.0)
            h = bar_width(share, scale, height - 2)
            style = (
                f'fill="none" stroke="{PREVIOUS_COLOUR}" stroke-width="1.5"'
                if name == "previous"
                else f'fill="{NEW_COLOUR}" fill-opacity="0.55"'
            )
            parts.append(
                f'<rect class="{name}" x="{x}" y="{round(height - h, 1)}" width="{w}" '
                f'height="{h}" {style}><title>{name} [{fmt(lo, 3)}, {fmt(hi, 3)}]: '
                f"{share:.1%}</title></rect>"
            )
    parts.append(f'<text x="0" y="{height + 11}" font-size="10">{esc(fmt(low, 3))}</text>')
    parts.append(
        f'<text x="{width}" y="{height + 11}" font-size="10" text-anchor="end">'
        f"{esc(fmt(high, 3))}</text>"
    )
    parts.append("</svg>")
    return Markup("".join(parts))


@dataclasses.dataclass(frozen=True)
class Box:
    """One box of the lineage graph.

    Attributes:
        key: Its identifier (a node id, ``span-N`` or ``push``).
        label: The text shown.
        fill: The fill colour.
        layer: The row it is drawn in (0 at the top).
    """

    key: str
    label: str
    fill: str
    layer: int


def graph_layers(nodes: Sequence[str], graph: Mapping[str, Sequence[str]]) -> dict[str, int]:
    """Assigns each node the length of its longest upstream path (its row).

    Args:
        nodes: The nodes present, in execution order.
        graph: Node -> upstream nodes (edges to absent nodes are ignored).

    Returns:
        Node -> layer, 0 for nodes without upstream nodes.
    """
    present = set(nodes)
    layers: dict[str, int] = {}
    for node in nodes:  # execution order: every upstream node comes first
        ups = [u for u in graph.get(node, ()) if u in present]
        layers[node] = 1 + max((layers.get(u, 0) for u in ups), default=-1)
    return layers


def _edge(
    source: str, target: str, dashed: bool, start: tuple[float, float], end: tuple[float, float]
) -> str:
    """A curved arrow from the bottom middle of one box to the top middle of another."""
    (sx, sy), (tx, ty) = start, end
    x1, y1, x2, y2 = sx + _BOX_WIDTH / 2, sy + _BOX_HEIGHT, tx + _BOX_WIDTH / 2, ty
    mid = (y1 + y2) / 2
    dash = ' stroke-dasharray="4 3"' if dashed else ""
    # Edges that skip rows cross other boxes; a lighter grey keeps the graph legible.
    stroke = "#666" if abs(ty - sy) <= _ROW_HEIGHT else "#aaa"
    return (
        f'<path class="edge" data-from="{esc(source)}" data-to="{esc(target)}" '
        f'd="M{x1:.1f},{y1:.1f} C{x1:.1f},{mid:.1f} {x2:.1f},{mid:.1f} {x2:.1f},{y2:.1f}" '
        f'fill="none" stroke="{stroke}" stroke-width="1.2"'
        f'{dash} marker-end="url(#arrow)"/>'
    )


def svg_lineage(
    boxes: Sequence[Box], edges: Iterable[tuple[str, str, bool]], width: int = 1100
) -> Markup:
    """Draws boxes in rows (by layer) with curved arrows between them.

    Args:
        boxes: The boxes; within a layer they keep this order.
        edges: ``(from key, to key, dashed)``; edges naming unknown boxes are skipped.
        width: The drawing's width in pixels.

    Returns:
        An ``<svg id="lineage">`` element whose boxes are ``<g data-node=...>``.
    """
    by_layer: dict[int, list[Box]] = {}
    for box in boxes:
        by_layer.setdefault(box.layer, []).append(box)
    layers = sorted(by_layer)
    position: dict[str, tuple[float, float]] = {}
    for row, layer in enumerate(layers):
        members = by_layer[layer]
        gap = width / len(members)
        for index, box in enumerate(members):
            position[box.key] = (gap * index + (gap - _BOX_WIDTH) / 2, 10 + row * _ROW_HEIGHT)
    height = 20 + len(layers) * _ROW_HEIGHT
    parts = [
        f'<svg id="lineage" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" role="img" aria-label="lineage graph">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#666"/></marker></defs>',
    ]
    for source, target, dashed in sorted(set(edges)):
        if source in position and target in position:
            parts.append(_edge(source, target, dashed, position[source], position[target]))
    for box in boxes:
        x, y = position[box.key]
        parts.append(
            f'<g class="box" data-node="{esc(box.key)}"><rect x="{x:.1f}" y="{y:.1f}" '
            f'width="{_BOX_WIDTH}" height="{_BOX_HEIGHT}" rx="5" fill="{esc(box.fill)}" '
            f'stroke="#555"/><text x="{x + _BOX_WIDTH / 2:.1f}" y="{y + 19:.1f}" '
            f'font-size="11.5" text-anchor="middle">{esc(box.label)}</text></g>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))
