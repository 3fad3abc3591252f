"""A run report: one self-contained static HTML page per pipeline run.

Everything on the page is read back from ML Metadata (through
:mod:`pipeline.mlmd.queries`) and the artifacts it points at, so the page shows what
TFX recorded, not what a runner remembered. :func:`gather_report` collects the facts;
Jinja2 templates (``templates/*.html.j2``, autoescaped) lay them out, with inline SVG
charts from :mod:`pipeline.views.charts`. The page needs no network and no
JavaScript, and everything is sorted so the same run always renders the same page.

Sections:
    1. the run: pipeline, run id, status and each component's result and time;
    2. data: the newest span's statistics (train split) next to the previous
       passing span's, ExampleValidator's anomalies and the data gate's drift;
    3. evaluation: the model gate (candidate against baseline) and per-slice metrics;
    4. lineage: the run's nodes as a graph, with the input spans and the push.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jinja2
import ml_metadata as mlmd
from markupsafe import Markup

from components.distances import Distance
from components.distances import read as read_distances
from pipeline.config import PipelineConfig
from pipeline.mlmd import queries
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
from pipeline.ops.model_gate import ModelGate, SliceMetrics, slice_metrics
from pipeline.ops.summary import RunSummary, summarize_run
from pipeline.views import charts
from pipeline.views.summary import improvement_rule

# components.data_gate's file names and compared split (not imported: that module
# imports TFX and TFDV at import time).
STATISTICS_FILE = "FeatureStats.pb"
ANOMALIES_FILE = "SchemaDiff.pb"
DISTANCES_FILE = "DriftSkew.pbtxt"
COMPARED_SPLIT = "train"

# How many categorical values a chart shows: enough to see the shape, small enough
# to stay readable.
TOP_VALUES = 8

# The lineage graph's boxes that are no node: input spans and the push.
SPAN_FILL = "#fff7d6"
PUSHED_FILL = "#c8ecc5"
NOT_PUSHED_FILL = "#eeeeee"


@dataclasses.dataclass(frozen=True)
class NumericStats:
    """One span's statistics of a numeric feature (TFDV's ``num_stats``).

    Attributes:
        mean: The mean.
        std_dev: The standard deviation.
        min: The minimum.
        max: The maximum.
        missing: Percent of examples without the feature (None without examples).
    """

    mean: float
    std_dev: float
    min: float
    max: float
    missing: float | None


@dataclasses.dataclass(frozen=True)
class CategoricalStats:
    """One span's statistics of a categorical feature (TFDV's ``string_stats``).

    Attributes:
        unique: Distinct values.
        missing: Percent of examples without the feature (None without examples).
        top: The three most frequent values and their counts.
    """

    unique: int
    missing: float | None
    top: tuple[tuple[str, float], ...]


@dataclasses.dataclass(frozen=True)
class FeatureRow:
    """One feature's statistics in the new span and the previous one, and its chart.

    Attributes:
        name: The feature path, dot-joined.
        new: The new span's statistics.
        previous: The previous span's (None: no statistics of that kind there).
        chart: A histogram (numeric) or top-value bars (categorical), new vs previous.
    """

    name: str
    new: NumericStats | CategoricalStats | None
    previous: NumericStats | CategoricalStats | None
    chart: Markup


@dataclasses.dataclass(frozen=True)
class Statistics:
    """The data section's statistics: the span the gate checked against the previous.

    Attributes:
        new_span: The new span (None when no artifact carries it).
        new_examples: The new span's examples in the compared split.
        previous_span: The previous passing span, when there is one.
        previous_examples: Its examples (0 without one).
        has_previous: Whether a previous span's statistics were compared.
        numeric: Numeric features, by name.
        categorical: Categorical features, by name.
    """

    new_span: int | None
    new_examples: int
    previous_span: int | None
    previous_examples: int
    has_previous: bool
    numeric: tuple[FeatureRow, ...]
    categorical: tuple[FeatureRow, ...]


@dataclasses.dataclass(frozen=True)
class AnomalyRow:
    """One anomaly ExampleValidator recorded.

    Attributes:
        split: The split.
        feature: The feature, or ``(dataset)`` for a split without examples.
        severity: ``WARNING`` or ``ERROR``.
        kinds: The anomaly types, comma-separated.
        description: TFDV's description.
    """

    split: str
    feature: str
    severity: str
    kinds: str
    description: str


@dataclasses.dataclass(frozen=True)
class Anomalies:
    """ExampleValidator's result on the run's span.

    Attributes:
        splits: The splits it checked.
        rows: The anomalies found, by split and feature.
    """

    splits: tuple[str, ...]
    rows: tuple[AnomalyRow, ...]


@dataclasses.dataclass(frozen=True)
class RunReport:
    """Everything the run report shows.

    Attributes:
        summary: The run's summary (nodes, evaluation, gate, push).
        model_name: The config's model name.
        status: ``succeeded``, ``failed`` or ``running`` (:func:`run_status`).
        statistics: The compared statistics (None: none of the new span recorded).
        anomalies: ExampleValidator's anomalies (None: it recorded no file).
        distances: The data gate's drift and skew distances.
        slices: The candidate's metrics per slice (``overall`` first).
        baseline: The baseline model's overall metrics (empty without one).
        lineage: The lineage graph (inline SVG).
    """

    summary: RunSummary
    model_name: str
    status: str
    statistics: Statistics | None
    anomalies: Anomalies | None
    distances: tuple[Distance, ...]
    slices: tuple[SliceMetrics, ...]
    baseline: Mapping[str, float]
    lineage: Markup


# ---------------------------------------------------------------------------------
# Statistics and anomalies


def _load_statistics(uri: str | None, split: str = COMPARED_SPLIT) -> Any | None:
    if not uri:
        return None
    path = os.path.join(uri, f"Split-{split}", STATISTICS_FILE)
    if not os.path.exists(path):
        return None
    import tensorflow_data_validation as tfdv  # heavy; only needed for the data section

    return tfdv.load_stats_binary(path)


def _features(stats: Any | None) -> dict[str, Any]:
    if stats is None or not stats.datasets:
        return {}
    return {
        (".".join(f.path.step) if f.path.step else f.name): f for f in stats.datasets[0].features
    }


def _missing(common: Any, num_examples: int) -> float | None:
    total = num_examples or (common.num_non_missing + common.num_missing)
    return 100.0 * common.num_missing / total if total else None


def _standard_buckets(num_stats: Any) -> list[charts.Bucket]:
    from tensorflow_metadata.proto.v0 import statistics_pb2

    for histogram in num_stats.histograms:
        if histogram.type == statistics_pb2.Histogram.STANDARD:
            return [(b.low_value, b.high_value, b.sample_count) for b in histogram.buckets]
    return []


def _top_values(string_stats: Any) -> dict[str, float]:
    # Shares rather than counts, so spans with different sizes compare.
    total = string_stats.common_stats.num_non_missing or 1
    return {v.value: v.frequency / total for v in string_stats.top_values}


def _numeric_stats(feature: Any | None, examples: int) -> NumericStats | None:
    if feature is None or not feature.HasField("num_stats"):
        return None
    s = feature.num_stats
    return NumericStats(s.mean, s.std_dev, s.min, s.max, _missing(s.common_stats, examples))


def _categorical_stats(feature: Any | None, examples: int) -> CategoricalStats | None:
    if feature is None or not feature.HasField("string_stats"):
        return None
    s = feature.string_stats
    top = tuple((v.value, v.frequency) for v in list(s.top_values)[:3])
    return CategoricalStats(s.unique, _missing(s.common_stats, examples), top)


def _numeric_row(name: str, new: Any, old: Any | None, new_n: int, old_n: int) -> FeatureRow:
    chart = charts.svg_histogram(
        _standard_buckets(new.num_stats), _standard_buckets(old.num_stats) if old else None
    )
    return FeatureRow(name, _numeric_stats(new, new_n), _numeric_stats(old, old_n), chart)


def _categorical_row(name: str, new: Any, old: Any | None, new_n: int, old_n: int) -> FeatureRow:
    new_top = _top_values(new.string_stats)
    old_top = (
        _top_values(old.string_stats) if old is not None and old.HasField("string_stats") else {}
    )
    # The new span's most frequent values first (ties by value, for a stable page).
    labels = sorted(new_top, key=lambda v: (-new_top[v], v))[:TOP_VALUES]
    labels += sorted((v for v in old_top if v not in labels), key=lambda v: (-old_top[v], v))[
        : max(TOP_VALUES - len(labels), 0)
    ]
    chart = charts.svg_bar_chart(
        [(v, new_top.get(v, 0.0), old_top.get(v, 0.0) if old is not None else None) for v in labels]
    )
    return FeatureRow(name, _categorical_stats(new, new_n), _categorical_stats(old, old_n), chart)


def statistics(
    new_stats: Any | None, old_stats: Any | None, new_span: int | None, old_span: int | None
) -> Statistics | None:
    """Compares the new span's statistics with the previous passing span's, by feature.

    Args:
        new_stats: The new span's ``DatasetFeatureStatisticsList`` (or None).
        old_stats: The previous span's (or None).
        new_span: The new span's number, if known.
        old_span: The previous span's number, if known.

    Returns:
        The comparison, or None when no statistics of the new span were recorded.
    """
    new_features, old_features = _features(new_stats), _features(old_stats)
    if new_stats is None or not new_features:
        return None
    new_n = new_stats.datasets[0].num_examples
    old_n = old_stats.datasets[0].num_examples if old_stats is not None and old_features else 0
    numeric, categorical = [], []
    for name in sorted(new_features):
        new, old = new_features[name], old_features.get(name)
        if new.HasField("num_stats"):
            numeric.append(_numeric_row(name, new, old, new_n, old_n))
        elif new.HasField("string_stats"):
            categorical.append(_categorical_row(name, new, old, new_n, old_n))
    return Statistics(
        new_span, new_n, old_span, old_n, bool(old_features), tuple(numeric), tuple(categorical)
    )


def anomalies(uri: str | None) -> Anomalies | None:
    """Reads ExampleValidator's ``SchemaDiff.pb`` of every split.

    Args:
        uri: The ``ExampleAnomalies`` artifact's URI, or None.

    Returns:
        The anomalies by split and feature, or None when no split has a file.
    """
    if not uri or not os.path.isdir(uri):
        return None
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    splits, rows = [], []
    for entry in sorted(os.listdir(uri)):
        path = os.path.join(uri, entry, ANOMALIES_FILE)
        if not (entry.startswith("Split-") and os.path.exists(path)):
            continue
        split, parsed = entry[len("Split-") :], anomalies_pb2.Anomalies()
        with open(path, "rb") as handle:
            parsed.ParseFromString(handle.read())
        splits.append(split)
        for feature, info in sorted(parsed.anomaly_info.items()):
            kinds = sorted({anomalies_pb2.AnomalyInfo.Type.Name(r.type) for r in info.reason})
            severity = anomalies_pb2.AnomalyInfo.Severity.Name(info.severity)
            description = info.description or info.short_description
            rows.append(AnomalyRow(split, feature, severity, ", ".join(kinds), description))
        if parsed.data_missing:
            rows.append(
                AnomalyRow(split, "(dataset)", "ERROR", "NO_DATA", "the split has no examples")
            )
    return Anomalies(tuple(splits), tuple(rows)) if splits else None


# ---------------------------------------------------------------------------------
# Status and lineage


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


def lineage_graph(
    summary: RunSummary, window: Sequence[int], ingested: int | None, serving: bool
) -> Markup:
    """Draws the run's nodes by layer, the input spans above them and the push below.

    Args:
        summary: The run summary (its nodes and states, and the push).
        window: The spans of the training window (Transform's input Examples).
        ingested: The span ExampleGen ingested in this run, if it ran.
        serving: Whether the run has the serving-data (skew) nodes.

    Returns:
        The lineage graph (:func:`pipeline.views.charts.svg_lineage`).
    """
    order = [n.node_id for n in summary.nodes]
    graph = upstream(serving=serving, tflite=True)  # edges to absent nodes are ignored
    layers = charts.graph_layers(order, graph)
    states = {n.node_id: n.state for n in summary.nodes}
    boxes = [
        charts.Box(f"span-{span}", f"span {span} ({queries.span_date(span)})", SPAN_FILL, 0)
        for span in sorted(set(window) | ({ingested} if ingested is not None else set()))
    ]
    # Rows: the spans on top, then the nodes by layer, then the push.
    boxes += sorted(
        (
            charts.Box(
                node,
                f"{node} ({states[node]})",
                charts.STATE_COLOURS.get(states[node], charts.UNKNOWN_COLOUR),
                layers[node] + 1,
            )
            for node in order
        ),
        key=lambda b: (b.layer, order.index(b.key)),
    )
    bottom = max(layers.values(), default=0) + 2
    if summary.pushed:
        version = os.path.basename(str(summary.pushed_destination).rstrip("/"))
        boxes.append(charts.Box("push", f"pushed version {version}", PUSHED_FILL, bottom))
    else:
        boxes.append(charts.Box("push", "nothing pushed", NOT_PUSHED_FILL, bottom))
    edges = [(up, node, False) for node in order for up in graph.get(node, ()) if up in states]
    if ingested is not None:
        edges.append((f"span-{ingested}", EXAMPLE_GEN, False))
    window_node = SPAN_WINDOW if SPAN_WINDOW in states else TRANSFORM
    edges += [(f"span-{span}", window_node, True) for span in window]
    if PUSHER in states:
        edges.append((PUSHER, "push", not summary.pushed))
    return charts.svg_lineage(boxes, edges)


# ---------------------------------------------------------------------------------
# Gathering and rendering


def gather_report(store: mlmd.MetadataStore, config: PipelineConfig, run_id: str) -> RunReport:
    """Reads everything the run report shows from ML Metadata and the artifacts.

    Args:
        store: The metadata store.
        config: The pipeline config (pipeline and model names).
        run_id: The ``pipeline_run`` context name.

    Returns:
        The report's facts.

    Raises:
        LookupError: If the pipeline has no such run in the store.
    """
    by_node = queries.run(store, config.pipeline_name, run_id).by_node
    summary = summarize_run(store, config.pipeline_name, run_id)

    def artifact(node: str, key: str, kind: int = queries.Event.OUTPUT) -> Any:
        return queries.artifact(store, by_node.get(node), key, kind)

    # The statistics and previous statistics the DataGate actually compared; the
    # StatisticsGen output when the gate did not run.
    new_stats = artifact(DATA_GATE, "statistics", queries.Event.INPUT) or artifact(
        STATISTICS_GEN, "statistics"
    )
    old_stats = artifact(DATA_GATE, "previous_statistics", queries.Event.INPUT)
    examples = artifact(EXAMPLE_GEN, "examples")
    # Statistics artifacts carry no span; the gate's examples and previous report do.
    gate_examples = artifact(DATA_GATE, "examples", queries.Event.INPUT) or examples
    previous_report = artifact(DATA_GATE, "previous_report", queries.Event.INPUT)
    report = artifact(DATA_GATE, "report_artifact")
    evaluation = artifact(EVALUATOR, "evaluation")
    window: tuple[int, ...] = ()
    if TRANSFORM in by_node:
        window = queries.spans(
            queries.artifacts(store, by_node[TRANSFORM].id, "examples", queries.Event.INPUT)
        )
    slices, baseline = slice_metrics(evaluation.uri) if evaluation else ([], {})
    serving = any(node.startswith("Serving") for node in by_node)
    return RunReport(
        summary=summary,
        model_name=config.model_name,
        status=run_status(summary),
        statistics=statistics(
            _load_statistics(new_stats.uri if new_stats else None),
            _load_statistics(old_stats.uri if old_stats else None),
            queries.span(gate_examples),
            queries.span(previous_report),
        ),
        anomalies=anomalies(getattr(artifact(EXAMPLE_VALIDATOR, "anomalies"), "uri", None)),
        distances=tuple(
            (read_distances(os.path.join(report.uri, DISTANCES_FILE)) or []) if report else []
        ),
        slices=tuple(slices),
        baseline=baseline,
        lineage=lineage_graph(summary, window, queries.span(examples), serving),
    )


def _signed(value: float | None) -> str:
    return "-" if value is None else f"{value:+.4f}"


@functools.lru_cache(maxsize=1)
def templates() -> jinja2.Environment:
    """The report's Jinja2 environment: the package's templates, autoescaped.

    Returns:
        The environment (created once).
    """
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("pipeline.views", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        fmt=charts.fmt,
        metric_text=charts.metric_text,
        signed=_signed,
        span_date=queries.span_date,
        improvement_rule=improvement_rule,
    )
    env.globals.update(
        STATE_COLOURS=charts.STATE_COLOURS,
        UNKNOWN_COLOUR=charts.UNKNOWN_COLOUR,
        NEW_COLOUR=charts.NEW_COLOUR,
        PREVIOUS_COLOUR=charts.PREVIOUS_COLOUR,
        SPAN_FILL=SPAN_FILL,
    )
    return env


def render(report: RunReport) -> str:
    """Renders gathered facts as the HTML page.

    Args:
        report: The report's facts (:func:`gather_report`).

    Returns:
        The HTML document (inline CSS and SVG; no scripts, no external resources).
    """
    return templates().get_template("report.html.j2").render(report=report)


def render_gate(gate: ModelGate | None, blessed: bool | None) -> str:
    """Renders the report's model-gate tables (overall, then per slice) on their own.

    Args:
        gate: The model gate, or None when the Evaluator applied no threshold.
        blessed: Whether the Evaluator blessed the model.

    Returns:
        An HTML fragment.
    """
    return templates().get_template("gate.html.j2").render(gate=gate, blessed=blessed)


def render_run_report(store: mlmd.MetadataStore, config: PipelineConfig, run_id: str) -> str:
    """Renders one run as a self-contained static HTML page.

    Args:
        store: The metadata store.
        config: The pipeline config (pipeline and model names).
        run_id: The ``pipeline_run`` context name.

    Returns:
        The HTML document.

    Raises:
        LookupError: If the pipeline has no such run in the store.
    """
    return render(gather_report(store, config, run_id))


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
