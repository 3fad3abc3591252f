"""A run report: one self-contained static HTML page per pipeline run.

Everything on the page is read back from ML Metadata and the artifacts it points
at (like :mod:`pipeline.ops.summary` and :mod:`pipeline.ops.lineage`), so the page shows
what TFX recorded, not what a runner remembered. The page needs no network and no
JavaScript: charts and the lineage graph are inline SVG written with the standard
library, every string from the store or the data goes through ``html.escape``, and
everything is sorted so the same run always renders the same page.

Sections:
    1. the run: pipeline, run id, status and each component's result and time;
    2. data: the newest span's statistics (train split) next to the previous
       passing span's, ExampleValidator's anomalies and the data gate's drift;
    3. evaluation: the model gate (candidate against baseline) and per-slice metrics;
    4. lineage: the run's nodes as a graph, with the input spans and the push.
"""

from __future__ import annotations

import dataclasses
import datetime
import html
import math
import os
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import ml_metadata as mlmd
from ml_metadata.proto import metadata_store_pb2

from components.distances import Distance
from components.distances import read as read_distances
from pipeline.config import PipelineConfig
from pipeline.nodes import (
    DATA_GATE,
    EVALUATOR,
    EXAMPLE_GEN,
    EXAMPLE_VALIDATOR,
    PUSHER,
    SPAN_WINDOW,
    STATISTICS_GEN,
    TRANSFORM,
    upstream,
)
from pipeline.ops.lineage import custom, events
from pipeline.ops.summary import (
    NODE_CONTEXT,
    RUN_CONTEXT,
    ModelGate,
    RunSummary,
    _slice_name,
    summarize_run,
)

_Event = metadata_store_pb2.Event
_Execution = metadata_store_pb2.Execution

# components.data_gate's file names and compared split (not imported: that module
# imports TFX and TFDV at import time).
STATISTICS_FILE = "FeatureStats.pb"
ANOMALIES_FILE = "SchemaDiff.pb"
DISTANCES_FILE = "DriftSkew.pbtxt"
COMPARED_SPLIT = "train"

# How many categorical values a chart shows: enough to see the shape, small enough
# to stay readable.
TOP_VALUES = 8

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
_UNKNOWN_COLOUR = "#eeeeee"
NEW_COLOUR = "#2f6fb3"
PREVIOUS_COLOUR = "#a0a0a0"

_CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 24px;
       color: #222; max-width: 1180px; }
h1 { font-size: 22px; margin-bottom: 4px; } h2 { font-size: 18px; margin-top: 28px;
     border-bottom: 1px solid #ccc; padding-bottom: 4px; } h3 { font-size: 15px; }
table { border-collapse: collapse; margin: 8px 0 16px; font-size: 13px; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; vertical-align: middle; }
th { background: #f3f3f3; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.exceeded td, td.fail { background: #fde2df; } td.pass { background: #e3f4e1; }
.status-succeeded { color: #1d7a1d; } .status-failed { color: #b3261e; }
.status-running { color: #9a6a00; } .muted { color: #777; }
pre { background: #f7f7f7; padding: 8px; font-size: 12px; white-space: pre-wrap; }
.legend span { display: inline-block; padding: 1px 8px; margin-right: 6px; border: 1px solid #999;
               font-size: 12px; }
"""


# ---------------------------------------------------------------------------------
# Escaping and SVG helpers


def esc(value: Any) -> str:
    """Escapes anything for HTML text or a quoted attribute.

    Args:
        value: Any value; it is converted with ``str``.

    Returns:
        The escaped text (``&``, ``<``, ``>``, ``"`` and ``'`` replaced).
    """
    return html.escape(str(value), quote=True)


def fmt(value: float | int | None, digits: int = 4) -> str:
    """Formats a number for a table cell.

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
) -> str:
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
    return "".join(parts)


Bucket = tuple[float, float, float]  # (low, high, sample count)


def svg_histogram(
    new: Sequence[Bucket], previous: Sequence[Bucket] | None, width: int = 300, height: int = 70
) -> str:
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
    return "".join(parts)


# ---------------------------------------------------------------------------------
# Reading the run


def _run_executions(store: mlmd.MetadataStore, run_id: str) -> dict[str, _Execution]:
    """Node id -> its execution in the run."""
    run = store.get_context_by_type_and_name(RUN_CONTEXT, run_id)
    if run is None:
        raise LookupError(f"no run {run_id!r} in ML Metadata")
    by_node: dict[str, _Execution] = {}
    for execution in store.get_executions_by_context(run.id):
        for context in store.get_contexts_by_execution(execution.id):
            if context.type == NODE_CONTEXT:
                by_node[context.name.split(".", 1)[-1]] = execution
    return by_node


def _node_order(by_node: Mapping[str, _Execution]) -> list[str]:
    # The serving topology is a superset of the default one and lists nodes in
    # execution order; anything else (a node this module does not know) goes last.
    known = [node for node in upstream(serving=True, tflite=True) if node in by_node]
    rest = sorted((n for n in by_node if n not in known), key=lambda n: by_node[n].id)
    return known + rest


def _artifact(
    store: mlmd.MetadataStore, by_node: Mapping[str, _Execution], node: str, key: str, kind: int
) -> metadata_store_pb2.Artifact | None:
    execution = by_node.get(node)
    if execution is None:
        return None
    found = events(store, execution.id, key, kind)
    return found[0] if found else None


def _span(artifact: metadata_store_pb2.Artifact | None) -> int | None:
    if artifact is None:
        return None
    value = custom(artifact, "span")
    if value is None and "span" in artifact.properties:
        value = artifact.properties["span"].int_value
    return None if value is None else int(value)


def span_date(span: int | None) -> str:
    """The day a date span number stands for (days since the epoch).

    Args:
        span: The span number.

    Returns:
        ``YYYY-MM-DD``, or ``?`` when there is none.
    """
    if span is None:
        return "?"
    try:
        return (datetime.date(1970, 1, 1) + datetime.timedelta(days=span)).isoformat()
    except OverflowError:
        return "?"


def _load_statistics(uri: str | None, split: str = COMPARED_SPLIT) -> Any | None:
    if not uri:
        return None
    path = os.path.join(uri, f"Split-{split}", STATISTICS_FILE)
    if not os.path.exists(path):
        return None
    import tensorflow_data_validation as tfdv  # heavy; only needed for the data section

    return tfdv.load_stats_binary(path)


def _load_anomalies(uri: str | None) -> dict[str, Any]:
    if not uri or not os.path.isdir(uri):
        return {}
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    result = {}
    for entry in sorted(os.listdir(uri)):
        path = os.path.join(uri, entry, ANOMALIES_FILE)
        if entry.startswith("Split-") and os.path.exists(path):
            parsed = anomalies_pb2.Anomalies()
            with open(path, "rb") as handle:
                parsed.ParseFromString(handle.read())
            result[entry[len("Split-"):]] = parsed
    return result


@dataclasses.dataclass(frozen=True)
class SliceMetrics:
    """The candidate's metrics on one slice.

    Attributes:
        name: ``overall`` or ``column=value, ...``.
        metrics: Metric name -> value (candidate only; no baseline or diffs).
    """

    name: str
    metrics: Mapping[str, float]


def load_slices(evaluation_uri: str) -> tuple[list[SliceMetrics], dict[str, float]]:
    """Loads TFMA's metrics per slice for the candidate, and the baseline's overall.

    Args:
        evaluation_uri: The Evaluator's ``evaluation`` artifact URI.

    Returns:
        The candidate's slices (``overall`` first, then by name) and the baseline
        model's overall-slice metrics (empty without a baseline).
    """
    import tensorflow_model_analysis as tfma  # heavy; only needed for the evaluation

    eval_config = tfma.writers.eval_config_writer.load_eval_run(evaluation_uri)[0]
    baselines = {m.name for m in eval_config.model_specs if m.is_baseline}
    slices: dict[str, dict[str, float]] = {}
    baseline: dict[str, float] = {}
    for slice_metrics in tfma.load_metrics(evaluation_uri):
        name = _slice_name(slice_metrics.slice_key)
        for kv in slice_metrics.metric_keys_and_values:
            if kv.key.is_diff or not kv.value.HasField("double_value"):
                continue
            value = kv.value.double_value.value
            if kv.key.model_name in baselines:
                if name == "overall":
                    baseline[kv.key.name] = value
            else:
                slices.setdefault(name, {})[kv.key.name] = value
    ordered = sorted(slices, key=lambda n: (n != "overall", n))
    return [SliceMetrics(n, dict(sorted(slices[n].items()))) for n in ordered], baseline


# ---------------------------------------------------------------------------------
# Sections


def run_status(summary: RunSummary) -> str:
    """The run's status from its node states.

    Args:
        summary: The run summary.

    Returns:
        ``failed`` if a node failed or was canceled, ``running`` if one has not
        finished, else ``succeeded``.
    """
    states = {node.state for node in summary.nodes}
    if states & {"failed", "canceled"}:
        return "failed"
    if states & {"running", "new"}:
        return "running"
    return "succeeded"


def _header(summary: RunSummary, config: PipelineConfig) -> str:
    status = run_status(summary)
    rows = "".join(
        f'<tr id="node-{esc(n.node_id)}"><td>{esc(n.node_id)}</td>'
        f'<td style="background:{STATE_COLOURS.get(n.state, _UNKNOWN_COLOUR)}">{esc(n.state)}</td>'
        f'<td class="num">{n.seconds:.1f}</td></tr>'
        for n in summary.nodes
    )
    pushed = (
        f"pushed to <code>{esc(summary.pushed_destination)}</code>"
        if summary.pushed
        else "nothing new pushed"
    )
    blessed = {True: "blessed", False: "not blessed", None: "not evaluated"}[summary.blessed]
    return (
        f"<h1>Run report: pipeline {esc(summary.pipeline_name)}</h1>"
        f'<p>Run <code id="run-id">{esc(summary.run_id)}</code> &middot; model '
        f"{esc(config.model_name)} &middot; status "
        f'<strong class="status-{esc(status)}" id="status">{esc(status)}</strong> &middot; '
        f"{esc(blessed)}, {pushed}</p>"
        "<h2>Components</h2><table><tr><th>component</th><th>result</th><th>seconds</th></tr>"
        f"{rows}</table>"
    )


def _feature_name(feature: Any) -> str:
    return ".".join(feature.path.step) if feature.path.step else feature.name


def _features(stats: Any | None) -> dict[str, Any]:
    if stats is None or not stats.datasets:
        return {}
    return {_feature_name(f): f for f in stats.datasets[0].features}


def _missing(common: Any, num_examples: int) -> float | None:
    total = num_examples or (common.num_non_missing + common.num_missing)
    return 100.0 * common.num_missing / total if total else None


def _standard_buckets(num_stats: Any) -> list[Bucket]:
    from tensorflow_metadata.proto.v0 import statistics_pb2

    for histogram in num_stats.histograms:
        if histogram.type == statistics_pb2.Histogram.STANDARD:
            return [(b.low_value, b.high_value, b.sample_count) for b in histogram.buckets]
    return []


def _top_values(string_stats: Any) -> dict[str, float]:
    # Shares rather than counts, so spans with different sizes compare.
    total = string_stats.common_stats.num_non_missing or 1
    return {v.value: v.frequency / total for v in string_stats.top_values}


def _numeric_rows(name: str, new: Any, old: Any | None, new_n: int, old_n: int) -> str:
    chart = svg_histogram(
        _standard_buckets(new.num_stats), _standard_buckets(old.num_stats) if old else None
    )
    cells = []
    for label, feature, count in (("new", new, new_n), ("previous", old, old_n)):
        if feature is None or not feature.HasField("num_stats"):
            cells.append(f'<td>{label}</td><td colspan="5" class="muted">no statistics</td>')
            continue
        s = feature.num_stats
        cells.append(
            f"<td>{label}</td><td class=\"num\">{fmt(s.mean)}</td>"
            f'<td class="num">{fmt(s.std_dev)}</td><td class="num">{fmt(s.min)}</td>'
            f'<td class="num">{fmt(s.max)}</td>'
            f'<td class="num">{fmt(_missing(s.common_stats, count), 1)}</td>'
        )
    return (
        f'<tr id="feature-{esc(name)}"><td rowspan="2"><strong>{esc(name)}</strong></td>'
        f'{cells[0]}<td rowspan="2">{chart}</td></tr><tr>{cells[1]}</tr>'
    )


def _categorical_rows(name: str, new: Any, old: Any | None, new_n: int, old_n: int) -> str:
    new_top = _top_values(new.string_stats)
    old_top = _top_values(old.string_stats) if old is not None and old.HasField("string_stats") else {}
    # The new span's most frequent values first (ties by value, for a stable page).
    labels = sorted(new_top, key=lambda v: (-new_top[v], v))[:TOP_VALUES]
    labels += sorted((v for v in old_top if v not in labels), key=lambda v: (-old_top[v], v))[
        : max(TOP_VALUES - len(labels), 0)
    ]
    chart = svg_bar_chart(
        [(v, new_top.get(v, 0.0), old_top.get(v, 0.0) if old is not None else None) for v in labels]
    )
    cells = []
    for label, feature, count in (("new", new, new_n), ("previous", old, old_n)):
        if feature is None or not feature.HasField("string_stats"):
            cells.append(f'<td>{label}</td><td colspan="3" class="muted">no statistics</td>')
            continue
        s = feature.string_stats
        top = ", ".join(
            f"{esc(v.value)} ({v.frequency:.0f})" for v in list(s.top_values)[:3]
        )
        cells.append(
            f'<td>{label}</td><td class="num">{s.unique}</td>'
            f'<td class="num">{fmt(_missing(s.common_stats, count), 1)}</td><td>{top}</td>'
        )
    return (
        f'<tr id="feature-{esc(name)}"><td rowspan="2"><strong>{esc(name)}</strong></td>'
        f'{cells[0]}<td rowspan="2">{chart}</td></tr><tr>{cells[1]}</tr>'
    )


def _statistics_section(new_stats: Any | None, old_stats: Any | None, new_span: int | None,
                        old_span: int | None) -> str:
    new_features, old_features = _features(new_stats), _features(old_stats)
    if not new_features:
        return '<p class="muted">No statistics of the new span were recorded.</p>'
    new_n = new_stats.datasets[0].num_examples
    old_n = old_stats.datasets[0].num_examples if old_features else 0
    compared = (
        f"previous span {old_span} ({span_date(old_span)}, {old_n} examples)"
        if old_features
        else "no previous span (nothing earlier passed the data gate)"
    )
    legend = (
        f'<p class="legend"><span style="background:{NEW_COLOUR};color:#fff">new: span '
        f"{esc(new_span)} ({esc(span_date(new_span))}, {new_n} examples)</span>"
        f'<span style="background:{PREVIOUS_COLOUR}">{esc(compared)}</span></p>'
    )
    numeric, categorical = [], []
    for name in sorted(new_features):
        new, old = new_features[name], old_features.get(name)
        if new.HasField("num_stats"):
            numeric.append(_numeric_rows(name, new, old, new_n, old_n))
        elif new.HasField("string_stats"):
            categorical.append(_categorical_rows(name, new, old, new_n, old_n))
    parts = [legend]
    if numeric:
        parts.append(
            "<h3>Numeric features</h3><table><tr><th>feature</th><th>span</th><th>mean</th>"
            "<th>std</th><th>min</th><th>max</th><th>missing %</th>"
            "<th>histogram (share of examples)</th></tr>" + "".join(numeric) + "</table>"
        )
    if categorical:
        parts.append(
            "<h3>Categorical features</h3><table><tr><th>feature</th><th>span</th>"
            "<th>unique</th><th>missing %</th><th>top values (count)</th>"
            "<th>top values (share of examples)</th></tr>" + "".join(categorical) + "</table>"
        )
    return "".join(parts)


def _anomalies_section(anomalies: Mapping[str, Any]) -> str:
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    if not anomalies:
        return '<p class="muted">ExampleValidator recorded no anomalies file for this run.</p>'
    rows = []
    for split, parsed in sorted(anomalies.items()):
        for feature, info in sorted(parsed.anomaly_info.items()):
            kinds = ", ".join(
                sorted({anomalies_pb2.AnomalyInfo.Type.Name(r.type) for r in info.reason})
            )
            rows.append(
                f'<tr class="exceeded"><td>{esc(split)}</td><td>{esc(feature)}</td>'
                f"<td>{esc(anomalies_pb2.AnomalyInfo.Severity.Name(info.severity))}</td>"
                f"<td>{esc(kinds)}</td>"
                f"<td>{esc(info.description or info.short_description)}</td></tr>"
            )
        if parsed.data_missing:
            rows.append(
                f'<tr class="exceeded"><td>{esc(split)}</td><td>(dataset)</td><td>ERROR</td>'
                "<td>NO_DATA</td><td>the split has no examples</td></tr>"
            )
    splits = ", ".join(sorted(anomalies))
    if not rows:
        return f"<p>ExampleValidator found no anomalies (splits {esc(splits)}).</p>"
    return (
        "<table><tr><th>split</th><th>feature</th><th>severity</th><th>type</th>"
        "<th>description</th></tr>" + "".join(rows) + "</table>"
    )


def _drift_section(distances: Sequence[Distance], gate_report: str) -> str:
    parts = []
    if distances:
        rows = "".join(
            f'<tr id="{esc(d.comparison)}-{esc(d.feature)}"'
            f"{' class=exceeded' if d.exceeded else ''}>"
            f"<td>{esc(d.feature)}</td><td>{esc(d.comparison)}</td><td>{esc(d.measure)}</td>"
            f'<td class="num distance">{fmt(d.value)}</td>'
            f'<td class="num threshold">{fmt(d.threshold)}</td>'
            f'<td class="{"fail" if d.exceeded else "pass"}">'
            f'{"exceeded" if d.exceeded else "within"}</td></tr>'
            for d in distances
        )
        parts.append(
            "<table><tr><th>feature</th><th>comparison</th><th>measure</th><th>distance</th>"
            f"<th>threshold</th><th>result</th></tr>{rows}</table>"
        )
    else:
        parts.append('<p class="muted">No drift or skew was measured in this run.</p>')
    if gate_report:
        parts.append(f"<h3>Data gate report</h3><pre>{esc(gate_report)}</pre>")
    return "".join(parts)


def _check_cell(passed: bool | None) -> str:
    if passed is None:
        return '<td class="muted">no threshold</td>'
    return f'<td class="{"pass" if passed else "fail"}">{"PASS" if passed else "FAIL"}</td>'


def _gate_table(gate: ModelGate | None, blessed: bool | None) -> str:
    if gate is None:
        return '<p class="muted">The Evaluator applied no threshold on the overall slice.</p>'
    bounds = " and ".join(
        text
        for text in (
            None if gate.lower_bound is None else f"&ge; {fmt(gate.lower_bound)}",
            None if gate.upper_bound is None else f"&le; {fmt(gate.upper_bound)}",
        )
        if text
    ) or "none"
    allowed = "none" if gate.allowed_change is None else (
        f"{'&ge;' if gate.higher_is_better else '&le;'} {gate.allowed_change:+.4f}"
    )
    verdict = {True: "blessed", False: "not blessed", None: "unknown"}[blessed]
    failures = "".join(f"<li>{esc(f)}</li>" for f in gate.failures)
    return (
        "<table><tr><th>gate metric</th><th>candidate</th><th>baseline</th><th>change</th>"
        "<th>value threshold</th><th>value check</th><th>allowed change</th>"
        "<th>change check</th><th>verdict</th></tr>"
        f'<tr id="model-gate"><td>{esc(gate.metric)} ({esc(gate.metric_key)})</td>'
        f'<td class="num">{fmt(gate.value)}</td><td class="num">{fmt(gate.baseline_value)}</td>'
        f'<td class="num">{"-" if gate.change is None else f"{gate.change:+.4f}"}</td>'
        f"<td>{bounds}</td>{_check_cell(gate.value_passed)}<td>{allowed}</td>"
        f"{_check_cell(gate.change_passed)}"
        f'<td class="{"pass" if blessed else "fail"}">{esc(verdict)}</td></tr></table>'
        + _slice_gate_table(gate)
        + (f"<p>TFMA validation failures:</p><ul>{failures}</ul>" if failures else "")
    )


def _allowed(change: float | None, higher_is_better: bool) -> str:
    if change is None:
        return "none"
    return f"{'&ge;' if higher_is_better else '&le;'} {change:+.4f}"


def _slice_gate_table(gate: ModelGate) -> str:
    """The per-slice thresholds' checks (``evaluation.slice_thresholds``), if any."""
    if not gate.slices:
        return ""
    rows = "".join(
        f'<tr id="slice-gate-{index}"><td>{esc(check.slice)}</td><td>{esc(check.spec)}</td>'
        f'<td class="num">{fmt(check.example_count, 0)}</td>'
        f'<td class="num">{fmt(check.value)}</td><td class="num">{fmt(check.baseline_value)}</td>'
        f'<td class="num">{"-" if check.change is None else f"{check.change:+.4f}"}</td>'
        f'<td>{"none" if check.lower_bound is None else f"&ge; {fmt(check.lower_bound)}"}</td>'
        f"{_check_cell(check.value_passed)}"
        f"<td>{_allowed(check.allowed_change, check.higher_is_better)}</td>"
        f"{_check_cell(check.change_passed)}</tr>"
        for index, check in enumerate(gate.slices)
    )
    return (
        f"<p>Slice thresholds on {esc(gate.metric)}:</p><table><tr><th>slice</th>"
        "<th>threshold for</th><th>examples</th><th>candidate</th><th>baseline</th>"
        "<th>change</th><th>floor</th><th>value check</th><th>allowed change</th>"
        f"<th>change check</th></tr>{rows}</table>"
    )


def _evaluation_section(
    summary: RunSummary, slices: Sequence[SliceMetrics], baseline: Mapping[str, float]
) -> str:
    if not summary.metrics and not slices:
        return '<p class="muted">The Evaluator did not run (or recorded nothing) in this run.</p>'
    parts = ["<h3>Model gate</h3>", _gate_table(summary.model_gate, summary.blessed)]
    names = sorted(set(summary.metrics) | set(baseline))
    rows = "".join(
        f'<tr id="metric-{esc(name)}"><td>{esc(name)}</td>'
        f'<td class="num">{metric_text(name, summary.metrics.get(name))}</td>'
        f'<td class="num">{metric_text(name, baseline.get(name))}</td></tr>'
        for name in names
    )
    parts.append(
        "<h3>Overall metrics (eval split of the newest span)</h3><table><tr><th>metric</th>"
        f"<th>candidate</th><th>baseline</th></tr>{rows}</table>"
    )
    if slices:
        columns = sorted({name for s in slices for name in s.metrics})
        head = "".join(f"<th>{esc(c)}</th>" for c in columns)
        body = "".join(
            f'<tr class="slice"><td>{esc(s.name)}</td>'
            + "".join(f'<td class="num">{metric_text(c, s.metrics.get(c))}</td>' for c in columns)
            + "</tr>"
            for s in slices
        )
        parts.append(
            "<h3>Metrics per slice (candidate)</h3>"
            f'<div style="overflow-x:auto"><table><tr><th>slice</th>{head}</tr>{body}</table></div>'
        )
    return "".join(parts)


# ---------------------------------------------------------------------------------
# Lineage graph


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


def svg_lineage(
    boxes: Sequence[Box], edges: Iterable[tuple[str, str, bool]], width: int = 1100
) -> str:
    """Draws boxes in rows (by layer) with curved arrows between them.

    Args:
        boxes: The boxes; within a layer they keep this order.
        edges: ``(from key, to key, dashed)``; edges naming unknown boxes are skipped.
        width: The drawing's width in pixels.

    Returns:
        An ``<svg id="lineage">`` element whose boxes are ``<g data-node=...>``.
    """
    box_w, box_h, row_h = 240, 30, 58
    by_layer: dict[int, list[Box]] = {}
    for box in boxes:
        by_layer.setdefault(box.layer, []).append(box)
    layers = sorted(by_layer)
    position: dict[str, tuple[float, float]] = {}
    for row, layer in enumerate(layers):
        members = by_layer[layer]
        gap = width / len(members)
        for index, box in enumerate(members):
            position[box.key] = (gap * index + (gap - box_w) / 2, 10 + row * row_h)
    height = 20 + len(layers) * row_h
    parts = [
        f'<svg id="lineage" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" role="img" aria-label="lineage graph">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#666"/></marker></defs>',
    ]
    for source, target, dashed in sorted(set(edges)):
        if source not in position or target not in position:
            continue
        (sx, sy), (tx, ty) = position[source], position[target]
        x1, y1, x2, y2 = sx + box_w / 2, sy + box_h, tx + box_w / 2, ty
        mid = (y1 + y2) / 2
        dash = ' stroke-dasharray="4 3"' if dashed else ""
        # Edges that skip rows cross other boxes; a lighter grey keeps the graph legible.
        stroke = "#666" if abs(ty - sy) <= row_h else "#aaa"
        parts.append(
            f'<path class="edge" data-from="{esc(source)}" data-to="{esc(target)}" '
            f'd="M{x1:.1f},{y1:.1f} C{x1:.1f},{mid:.1f} {x2:.1f},{mid:.1f} {x2:.1f},{y2:.1f}" '
            f'fill="none" stroke="{stroke}" stroke-width="1.2"'
            f"{dash} marker-end=\"url(#arrow)\"/>"
        )
    for box in boxes:
        x, y = position[box.key]
        parts.append(
            f'<g class="box" data-node="{esc(box.key)}"><rect x="{x:.1f}" y="{y:.1f}" '
            f'width="{box_w}" height="{box_h}" rx="5" fill="{esc(box.fill)}" stroke="#555"/>'
            f'<text x="{x + box_w / 2:.1f}" y="{y + 19:.1f}" font-size="11.5" '
            f'text-anchor="middle">{esc(box.label)}</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _lineage_section(
    summary: RunSummary,
    window: Sequence[int],
    ingested: int | None,
    serving: bool,
) -> str:
    order = [n.node_id for n in summary.nodes]
    graph = upstream(serving=serving, tflite=True)  # edges to absent nodes are ignored
    layers = graph_layers(order, graph)
    states = {n.node_id: n.state for n in summary.nodes}
    boxes = [
        Box(f"span-{span}", f"span {span} ({span_date(span)})", "#fff7d6", 0)
        for span in sorted(set(window) | ({ingested} if ingested is not None else set()))
    ]
    # Rows: the spans on top, then the nodes by layer, then the push.
    boxes += sorted(
        (
            Box(node, f"{node} ({states[node]})", STATE_COLOURS.get(states[node], _UNKNOWN_COLOUR),
                layers[node] + 1)
            for node in order
        ),
        key=lambda b: (b.layer, order.index(b.key)),
    )
    bottom = max(layers.values(), default=0) + 2
    if summary.pushed:
        version = os.path.basename(str(summary.pushed_destination).rstrip("/"))
        boxes.append(Box("push", f"pushed version {version}", "#c8ecc5", bottom))
    else:
        boxes.append(Box("push", "nothing pushed", "#eeeeee", bottom))
    edges = [(up, node, False) for node in order for up in graph.get(node, ()) if up in states]
    if ingested is not None:
        edges.append((f"span-{ingested}", EXAMPLE_GEN, False))
    window_node = SPAN_WINDOW if SPAN_WINDOW in states else TRANSFORM
    edges += [(f"span-{span}", window_node, True) for span in window]
    if PUSHER in states:
        edges.append((PUSHER, "push", not summary.pushed))
    legend = "".join(
        f'<span style="background:{colour}">{esc(state)}</span>'
        for state, colour in sorted(STATE_COLOURS.items())
    )
    return (
        f'<p class="legend">{legend}<span style="background:#fff7d6">input span</span></p>'
        "<p class=\"muted\">Solid arrows: the node's inputs. Dashed: the spans of the "
        "training window (selected by the window resolver).</p>"
        + svg_lineage(boxes, edges)
    )


# ---------------------------------------------------------------------------------
# The page


def render_run_report(store: mlmd.MetadataStore, config: PipelineConfig, run_id: str) -> str:
    """Renders one run as a self-contained static HTML page.

    Args:
        store: The metadata store.
        config: The pipeline config (pipeline and model names).
        run_id: The ``pipeline_run`` context name.

    Returns:
        The HTML document (inline CSS and SVG; no scripts, no external resources).

    Raises:
        LookupError: If the run is not in the store.
    """
    by_node = _run_executions(store, run_id)
    summary = summarize_run(store, config.pipeline_name, run_id, _node_order(by_node))

    # The statistics and previous statistics the DataGate actually compared; the
    # StatisticsGen output when the gate did not run.
    statistics = _artifact(store, by_node, DATA_GATE, "statistics", _Event.INPUT) or _artifact(
        store, by_node, STATISTICS_GEN, "statistics", _Event.OUTPUT
    )
    previous = _artifact(store, by_node, DATA_GATE, "previous_statistics", _Event.INPUT)
    examples = _artifact(store, by_node, EXAMPLE_GEN, "examples", _Event.OUTPUT)
    anomalies = _artifact(store, by_node, EXAMPLE_VALIDATOR, "anomalies", _Event.OUTPUT)
    report = _artifact(store, by_node, DATA_GATE, "report_artifact", _Event.OUTPUT)
    evaluation = _artifact(store, by_node, EVALUATOR, "evaluation", _Event.OUTPUT)
    window = sorted(
        s for s in (_span(a) for a in events(store, by_node[TRANSFORM].id, "examples", _Event.INPUT))
        if s is not None
    ) if TRANSFORM in by_node else []

    # Statistics artifacts carry no span; the gate's examples and previous report do.
    gate_examples = _artifact(store, by_node, DATA_GATE, "examples", _Event.INPUT) or examples
    previous_report = _artifact(store, by_node, DATA_GATE, "previous_report", _Event.INPUT)
    data = _statistics_section(
        _load_statistics(statistics.uri if statistics else None),
        _load_statistics(previous.uri if previous else None),
        _span(gate_examples),
        _span(previous_report),
    )
    distances = (read_distances(os.path.join(report.uri, DISTANCES_FILE)) or []) if report else []
    slices, baseline = load_slices(evaluation.uri) if evaluation else ([], {})
    serving = any(node.startswith("Serving") for node in by_node)

    body = "".join(
        [
            _header(summary, config),
            "<h2>Data</h2>",
            data,
            "<h3>Anomalies (ExampleValidator, against the schema)</h3>",
            _anomalies_section(_load_anomalies(anomalies.uri if anomalies else None)),
            "<h3>Drift and skew (data gate)</h3>",
            _drift_section(distances, summary.data_gate_report),
            "<h2>Evaluation</h2>",
            _evaluation_section(summary, slices, baseline),
            "<h2>Lineage</h2>",
            _lineage_section(summary, window, _span(examples), serving),
        ]
    )
    title = f"Run {summary.run_id} of {summary.pipeline_name}"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{esc(title)}</title><style>{_CSS}</style></head>"
        f"<body>{body}</body></html>\n"
    )


def write_run_report(
    store: mlmd.MetadataStore, config: PipelineConfig, run_id: str, path: str | os.PathLike[str]
) -> Path:
    """Writes :func:`render_run_report` to a file.

    Args:
        store: The metadata store.
        config: The pipeline config.
        run_id: The run id.
        path: The HTML file to write (parent directories are created).

    Returns:
        The path written.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_run_report(store, config, run_id), encoding="utf-8")
    return target
