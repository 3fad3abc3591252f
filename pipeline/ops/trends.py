"""The pipeline's health over time: each day's data, gate, model and run, from ML Metadata.

:func:`gather` answers the questions a daily retrain raises about trends: is the
label's rate drifting, which feature's drift is creeping towards its limit, is each
new model better than the served one, how often are days stopped and why, are runs
getting slower. :mod:`pipeline.views.dashboard` draws the result as one static page.

A day is a span. Its facts come from the newest run that trained on it as its newest
span (a pipeline run), else from the newest run that validated it (a backfill's
validation-only run): that is the run whose ``report.html`` the day links to. ML
Metadata is read in bulk (one call for every run's events, one per thousand
artifacts), and each day's artifacts are read once: the statistics (rows, the
label's mean), the gate's distances and the evaluation's gate metric. Statistics and
distances are protos read with ``tensorflow_metadata`` (no TFDV import); the gate
metric is read from the ModelEvaluation's ``metrics`` property
(:mod:`components.eval_sample` records it), and only an evaluation recorded before
that property existed is loaded through TFMA.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import ml_metadata as mlmd
from tensorflow_metadata.proto.v0 import statistics_pb2

from components import distances
from components.serving_config import LABEL_PROPERTY, STABLE
from pipeline.alerts.notify import day_label
from pipeline.config import PipelineConfig
from pipeline.mlmd import queries
from pipeline.mlmd.queries import Artifact, Event, Execution
from pipeline.nodes import DATA_GATE, EVALUATOR, EXAMPLE_GEN, RESOLVERS, STATISTICS_GEN, TRANSFORM
from pipeline.ops import history, lineage
from pipeline.ops.model_gate import BASELINE_MODEL, metric_values, recorded_metrics, slice_text

# components.data_gate's report file (not imported: it imports TFX at import time).
DISTANCES_FILE = "DriftSkew.pbtxt"
STATISTICS_FILE = "FeatureStats.pb"

# MLMD's bulk reads take ids in one SQL ``IN`` list; chunks keep it bounded.
_CHUNK = 1000

OVERALL = "overall"


@dataclasses.dataclass(frozen=True)
class DriftCell:
    """One feature's largest drift distance on a day, against its limit.

    Attributes:
        feature: The feature (the label included when ``label_drift`` is set).
        measure: The measure of the largest share (``Jensen-Shannon divergence``...).
        value: The distance.
        threshold: Its limit.
    """

    feature: str
    measure: str
    value: float
    threshold: float

    @property
    def share(self) -> float:
        """The distance as a share of its limit (1.0: at the limit; above: blocked)."""
        return self.value / self.threshold if self.threshold > 0 else float("inf")


@dataclasses.dataclass(frozen=True)
class ModelDay:
    """The Evaluator's verdict on a day's candidate.

    Attributes:
        candidate: The candidate's gate metric on the day's eval split (overall).
        baseline: The baseline's (the last blessed model) on the same rows; None for
            the first model.
        blessed: Whether the Evaluator blessed the candidate.
        slices: The candidate's gate metric per configured slice (``feature:value``).
        pushed_version: The version the day's Pusher pushed, if any.
    """

    candidate: float | None
    baseline: float | None
    blessed: bool | None
    slices: Mapping[str, float]
    pushed_version: str | None


@dataclasses.dataclass(frozen=True)
class Day:
    """One span: what arrived, what the gates decided, how the run went.

    Attributes:
        span: The span number.
        day: Its label (``2026-11-04``, or ``span 7`` without a date pattern).
        run_id: The run the day's facts come from (None: no run ingested the span).
        kind: ``run`` or ``validation`` (a backfill's validation-only run).
        status: The run's status (:attr:`pipeline.ops.history.RunRecord.status`).
        rows: Rows ingested (all splits; None when the statistics are gone).
        label_mean: The label's mean over those rows (the click-through rate of a
            0/1 label); None without statistics or for a string label.
        gate: ``passed``, ``stopped`` (the data gate rejected the span) or ``not
            checked`` (the run ended before the gate, or it had no verdict).
        stopped_by: Why no model shipped (``data gate``, ``model gate``, ``error in
            <node>``...), None if nothing stopped it.
        reason: One line on the stop, when ML Metadata recorded one.
        drift: The day's drift distances, one per feature (largest share).
        model: The Evaluator's verdict (None: no evaluation that day).
        served_version: The ``stable`` version at the end of the day's run.
        served_value: The gate metric that version scored as its day's candidate
            (None: pushed by a run ML Metadata no longer holds, or not evaluated).
        duration_seconds: The run's wall time.
        node_seconds: Seconds per component that executed (resolvers and cache hits
            left out).
        peak_rss_mib: The run's peak memory, when the runner recorded it.
        finished_ms: When the run's last execution was updated (ms since the epoch).
    """

    span: int
    day: str
    run_id: str | None
    kind: str
    status: str
    rows: int | None
    label_mean: float | None
    gate: str
    stopped_by: str | None
    reason: str | None
    drift: tuple[DriftCell, ...]
    model: ModelDay | None
    served_version: str | None
    served_value: float | None
    duration_seconds: float | None
    node_seconds: Mapping[str, float]
    peak_rss_mib: float | None
    finished_ms: int | None


@dataclasses.dataclass(frozen=True)
class ServingEvent:
    """A push or a move of a TF Serving label.

    Attributes:
        at_ms: When it was recorded (ms since the epoch).
        kind: ``push``, ``rollback`` or ``promote``.
        version: The version pushed, or the label's new version.
        label: The label it got or moved (``stable``, ``canary``).
        previous: The label's version before a rollback or promote.
        run_id: The run that recorded it.
    """

    at_ms: int
    kind: str
    version: str
    label: str
    previous: str | None
    run_id: str | None


@dataclasses.dataclass(frozen=True)
class Trends:
    """The last days of a pipeline, oldest first, with its serving events.

    Attributes:
        pipeline_name: The pipeline.
        model_name: The served model.
        gate_metric: The Evaluator's gate metric (``evaluation.gate_metric``).
        label: The label column.
        slices: The configured slices' names seen in the evaluations, sorted.
        features: Every feature with a drift distance in the window, the label first.
        days: One per span in the window, oldest first (a by-date pipeline's missing
            days included, with no run).
        events: Pushes, rollbacks and promotions in the window, oldest first.
        served: The served version's lineage now (None: nothing served).
    """

    pipeline_name: str
    model_name: str
    gate_metric: str
    label: str
    slices: tuple[str, ...]
    features: tuple[str, ...]
    days: tuple[Day, ...]
    events: tuple[ServingEvent, ...]
    served: lineage.Lineage | None


# --------------------------------------------------------------------------- reading


@dataclasses.dataclass
class _Graph:
    """The events and artifacts of a set of executions, read in bulk."""

    events: dict[int, list[Event]]
    artifacts: dict[int, Artifact]

    def all(
        self, execution: Execution | None, key: str, kind: int = Event.OUTPUT
    ) -> list[Artifact]:
        if execution is None:
            return []
        ids = queries.artifact_ids(self.events.get(execution.id, ()), key, kind)
        return [self.artifacts[i] for i in ids if i in self.artifacts]

    def artifact(
        self, execution: Execution | None, key: str, kind: int = Event.OUTPUT
    ) -> Artifact | None:
        found = self.all(execution, key, kind)
        return found[0] if found else None


def _chunks(ids: Sequence[int]) -> Iterable[Sequence[int]]:
    for start in range(0, len(ids), _CHUNK):
        yield ids[start : start + _CHUNK]


def _graph(store: mlmd.MetadataStore, executions: Iterable[Execution]) -> _Graph:
    ids = sorted({e.id for e in executions})
    events: dict[int, list[Event]] = {}
    for chunk in _chunks(ids):
        for event in store.get_events_by_execution_ids(chunk):
            events.setdefault(event.execution_id, []).append(event)
    artifact_ids = sorted({e.artifact_id for found in events.values() for e in found})
    artifacts: dict[int, Artifact] = {}
    for chunk in _chunks(artifact_ids):
        artifacts.update((a.id, a) for a in store.get_artifacts_by_id(chunk))
    return _Graph(events, artifacts)


def _day_span(run: queries.Run, graph: _Graph) -> int | None:
    # A training run's day is its window's newest span; a run that stopped before
    # Transform (or a validation run) is the span ExampleGen ingested.
    window = graph.all(run.by_node.get(TRANSFORM), "examples", Event.INPUT)
    found = queries.spans(window) or queries.spans(
        graph.all(run.by_node.get(EXAMPLE_GEN), "examples", Event.OUTPUT)
    )
    return max(found) if found else None


def read_statistics(uri: str) -> list[statistics_pb2.DatasetFeatureStatistics]:
    """Reads every split's statistics of a Statistics artifact.

    ``tfdv.load_stats_binary`` parses the same file the same way; reading the proto
    directly keeps TFDV's import (12-16 s) out of the ops views.

    Args:
        uri: The artifact's URI (``Split-<name>/FeatureStats.pb`` below it).

    Returns:
        One dataset per split found, by split name.
    """
    found: list[statistics_pb2.DatasetFeatureStatistics] = []
    if not os.path.isdir(uri):
        return found
    for entry in sorted(os.listdir(uri)):
        path = os.path.join(uri, entry, STATISTICS_FILE)
        if entry.startswith("Split-") and os.path.isfile(path):
            with open(path, "rb") as handle:
                stats = statistics_pb2.DatasetFeatureStatisticsList.FromString(handle.read())
            found.extend(stats.datasets)
    return found


def _label_mean(feature: statistics_pb2.FeatureNameStatistics) -> tuple[float, int] | None:
    # A numeric label has a mean; a categorical one (a class id TFDV counts as a
    # string) has one when every value is a number and its top values cover all rows.
    if feature.HasField("num_stats"):
        common = feature.num_stats.common_stats
        return feature.num_stats.mean, common.num_non_missing
    if feature.HasField("string_stats"):
        counted = feature.string_stats.common_stats.num_non_missing
        values = [(v.value, v.frequency) for v in feature.string_stats.top_values]
        if not counted or round(sum(f for _, f in values)) != counted:
            return None
        try:
            return sum(float(v) * f for v, f in values) / counted, counted
        except ValueError:
            return None
    return None


def _rows_and_label_mean(uri: str | None, label: str) -> tuple[int | None, float | None]:
    datasets = read_statistics(uri) if uri else []
    if not datasets:
        return None, None
    rows = sum(d.num_examples for d in datasets)
    weighted = 0.0
    counted = 0
    for dataset in datasets:
        for feature in dataset.features:
            name = ".".join(feature.path.step) if feature.path.step else feature.name
            found = _label_mean(feature) if name == label else None
            if found is not None:
                weighted += found[0] * found[1]
                counted += found[1]
    return rows, (weighted / counted if counted else None)


def _drift(found: Iterable[distances.Distance]) -> tuple[DriftCell, ...]:
    # The heat map's cell is the measure closest to (or furthest past) its limit.
    best: dict[str, DriftCell] = {}
    for distance in found:
        if distance.comparison != "drift":
            continue
        cell = DriftCell(distance.feature, distance.measure, distance.value, distance.threshold)
        if distance.feature not in best or cell.share > best[distance.feature].share:
            best[distance.feature] = cell
    return tuple(best[f] for f in sorted(best))


def gate_distances(gate: Execution | None, report: Artifact | None) -> list[distances.Distance]:
    """The distances a DataGate execution measured, passed or stopped.

    A passing gate wrote them to its report artifact. TFX deletes a failed
    execution's outputs, so for a stopped span the runner records them on the
    execution (``gate_distances``, see :func:`pipeline.run.launch.record_gate_rejection`).

    Args:
        gate: The DataGate execution.
        report: Its report artifact (passed spans).

    Returns:
        The distances; empty when none was measured or recorded.
    """
    if report is not None:
        found = distances.read(os.path.join(report.uri, DISTANCES_FILE))
        if found:
            return found
    recorded = queries.json_property(gate, queries.GATE_DISTANCES_PROPERTY)
    if not isinstance(recorded, list):
        return []
    return [distances.Distance(**entry) for entry in recorded if isinstance(entry, dict)]


def evaluation_gate_metrics(evaluation: Artifact, metric: str) -> dict[str, dict[str, float]]:
    """The gate metric per slice, of the candidate and of the baseline.

    Args:
        evaluation: A ModelEvaluation artifact.
        metric: The gate metric's name.

    Returns:
        ``{"candidate": {slice: value}, "baseline": {slice: value}}`` (slices named
        by :func:`pipeline.ops.model_gate.slice_text`), from the metrics recorded on
        the artifact (:func:`pipeline.ops.model_gate.recorded_metrics`), or for an
        evaluation recorded before them, loaded once through TFMA.
    """
    values: dict[str, dict[str, float]] = {"candidate": {}, "baseline": {}}
    recorded = recorded_metrics(evaluation)
    if recorded is not None:
        for model in values:
            for slice_name, metrics in recorded.get(model, {}).items():
                name = metric_name(metric, metrics)
                if name is not None:
                    values[model][slice_name] = metrics[name]
        return values
    for slice_key, by_key in metric_values(evaluation.uri).items():
        names = {key.name for key in by_key}
        for key, value in by_key.items():
            if key.is_diff or key.name != metric_name(metric, names):
                continue
            model = "baseline" if key.model_name == BASELINE_MODEL else "candidate"
            values[model][slice_text(slice_key)] = value
    return values


def metric_name(class_name: str, names: Iterable[str]) -> str | None:
    """The name TFMA reports a configured metric class under.

    ``evaluation.gate_metric`` is a class name (``AUC``, ``BinaryAccuracy``); TFMA
    keys its results by the metric's name, Keras's and TFMA's snake case of it
    (``auc``, ``binary_accuracy``).

    Args:
        class_name: The configured class name (or a name as TFMA reports it).
        names: The metric names in the results.

    Returns:
        The name among ``names``, or None if none is that metric's.
    """
    names = list(names)
    if class_name in names:
        return class_name
    folded = class_name.replace("_", "").lower()
    return next((n for n in names if n.replace("_", "").lower() == folded), None)


def _model_day(
    graph: _Graph,
    evaluator: Execution | None,
    metric: str,
    record: history.RunRecord,
    read: dict[int, dict[str, dict[str, float]]],
) -> ModelDay | None:
    if evaluator is None or evaluator.last_known_state not in queries.DONE:
        return None
    evaluation = graph.artifact(evaluator, "evaluation")
    if evaluation is None:
        return None
    # A cached run's Evaluator reuses an earlier evaluation: read each artifact once.
    if evaluation.id not in read:
        read[evaluation.id] = evaluation_gate_metrics(evaluation, metric)
    values = read[evaluation.id]
    candidate = values["candidate"]
    return ModelDay(
        candidate=candidate.get(OVERALL),
        baseline=values["baseline"].get(OVERALL),
        blessed=record.blessed,
        slices={k: v for k, v in sorted(candidate.items()) if k != OVERALL},
        pushed_version=record.pushed_version,
    )


def _node_seconds(run: queries.Run) -> dict[str, float]:
    return {
        node: max(e.last_update_time_since_epoch - e.create_time_since_epoch, 0) / 1000.0
        for node, e in run.by_node.items()
        if node not in RESOLVERS and e.last_known_state != Execution.CACHED
    }


def _peak_rss(run: queries.Run) -> float | None:
    recorded = [queries.custom(run.context, queries.PEAK_RSS_PROPERTY)]
    recorded += [queries.custom(e, queries.PEAK_RSS_PROPERTY) for e in run.executions]
    numbers = [float(v) for v in recorded if isinstance(v, (int, float))]
    return max(numbers) if numbers else None


def _gate_verdict(gate: Execution | None) -> str:
    if gate is None:
        return "not checked"
    if gate.last_known_state in queries.DONE:
        return "passed"
    if gate.last_known_state == Execution.FAILED:
        return "stopped"
    return "not checked"


# ------------------------------------------------------------------------- serving


def serving_events(store: mlmd.MetadataStore, config: PipelineConfig) -> list[ServingEvent]:
    """Every push and label move of the pipeline's model, oldest first.

    Args:
        store: The metadata store.
        config: The pipeline config.

    Returns:
        The events (pushes from the PushedModel artifacts, rollbacks and promotions
        from their executions).
    """
    found = []
    for version, pushed in lineage.pushed_models(store, config).items():
        producer = queries.producer(store, pushed.id)
        found.append(
            ServingEvent(
                at_ms=pushed.create_time_since_epoch,
                kind="push",
                version=version,
                label=str(queries.custom(pushed, LABEL_PROPERTY) or STABLE),
                previous=None,
                run_id=None if producer is None else queries.run_id_of(store, producer),
            )
        )
    for type_name in queries.label_change_types(store):
        for change in queries.label_changes(store, config.pipeline_name, type_name):
            if "to_version" not in change.properties:
                continue  # an earlier release's republish: its push is listed above
            found.append(
                ServingEvent(
                    at_ms=change.create_time_since_epoch,
                    kind=type_name.lower(),
                    version=change.properties["to_version"].string_value,
                    label=_text(change, "label") or STABLE,
                    previous=_text(change, "from_version") or None,
                    run_id=queries.run_id_of(store, change),
                )
            )
    return sorted(found, key=lambda e: (e.at_ms, e.kind != "push"))


def _text(execution: Execution, name: str) -> str:
    return execution.properties[name].string_value if name in execution.properties else ""


def _stable_at(events: Sequence[ServingEvent], at_ms: int) -> str | None:
    stable = None
    for event in events:
        if event.at_ms > at_ms:
            break
        if event.label == STABLE:
            stable = event.version
    return stable


# --------------------------------------------------------------------------- gather


def _window(chosen: Mapping[int, Any], days: int, by_date: bool) -> list[int]:
    # A by-date pipeline shows every calendar day from its first span (at most
    # ``days`` back) to its newest, so a day whose data never came is a visible gap;
    # a {SPAN} pipeline shows its newest spans.
    if not chosen:
        return []
    if by_date:
        newest = max(chosen)
        return list(range(max(min(chosen), newest - days + 1), newest + 1))
    return sorted(chosen)[-days:]


def _no_run(config: PipelineConfig, span: int) -> Day:
    return Day(
        span=span,
        day=day_label(config, span),
        run_id=None,
        kind="none",
        status="no run",
        rows=None,
        label_mean=None,
        gate="not checked",
        stopped_by=None,
        reason=None,
        drift=(),
        model=None,
        served_version=None,
        served_value=None,
        duration_seconds=None,
        node_seconds={},
        peak_rss_mib=None,
        finished_ms=None,
    )


def gather(store: mlmd.MetadataStore, config: PipelineConfig, days: int = 30) -> Trends:
    """Reads the pipeline's last ``days`` days from ML Metadata and their artifacts.

    Args:
        store: The metadata store.
        config: The pipeline config (names, label, gate metric, serving directory).
        days: How many of the newest spans to show (a by-date pipeline's days without
            a run count).

    Returns:
        The trends, oldest day first.
    """
    name = config.pipeline_name
    metric = config.evaluation.gate_metric
    label = config.features.label
    # Pipeline and validation runs, not label moves (those are serving events).
    work = [
        r for r in queries.runs(store, name) if not set(queries.LABEL_CHANGE_TYPES) & set(r.by_node)
    ]
    graph = _graph(store, (e for r in work for e in r.by_node.values()))

    def validation(run: queries.Run) -> bool:
        return history.VALIDATION_MARKER in run.run_id

    # The newest run per span: a pipeline run before a validation run.
    chosen: dict[int, queries.Run] = {}
    for run in work:  # newest first
        span = _day_span(run, graph)
        if span is None:
            continue
        best = chosen.get(span)
        if best is None or (validation(best) and not validation(run)):
            chosen[span] = run
    spans = _window(chosen, days, by_date="{YYYY}" in config.data.span_pattern)
    # The history's per-run reading (status, why it stopped), for the runs shown only:
    # the window's, and the runs that pushed a version served in it.
    records: dict[str, history.RunRecord] = {}

    def record_of(run: queries.Run) -> history.RunRecord:
        if run.run_id not in records:
            (records[run.run_id],) = history.list_runs(store, name, runs=[run])
        return records[run.run_id]

    events = serving_events(store, config)
    by_id = {run.run_id: run for run in work}
    models: dict[str, ModelDay | None] = {}
    evaluations: dict[int, dict[str, dict[str, float]]] = {}

    def model_of(run: queries.Run) -> ModelDay | None:
        # A day's own verdict and the served line share it.
        if run.run_id not in models:
            models[run.run_id] = _model_day(
                graph, run.by_node.get(EVALUATOR), metric, record_of(run), evaluations
            )
        return models[run.run_id]

    def served_value(version: str | None) -> float | None:
        # The score the served version had as its day's candidate.
        pusher = next((e.run_id for e in events if e.kind == "push" and e.version == version), None)
        pushing = by_id.get(pusher or "")
        model = model_of(pushing) if pushing is not None else None
        return None if model is None else model.candidate

    built = []
    for span in spans:
        if span not in chosen:
            built.append(_no_run(config, span))
            continue
        run = chosen[span]
        record = record_of(run)
        gate = run.by_node.get(DATA_GATE)
        statistics = graph.artifact(gate, "statistics", Event.INPUT) or graph.artifact(
            run.by_node.get(STATISTICS_GEN), "statistics"
        )
        rows, label_mean = _rows_and_label_mean(statistics.uri if statistics else None, label)
        served_version = _stable_at(events, run.end_ms)
        built.append(
            Day(
                span=span,
                day=day_label(config, span),
                run_id=run.run_id,
                kind=record.kind,
                status=record.status,
                rows=rows,
                label_mean=label_mean,
                gate=_gate_verdict(gate),
                stopped_by=record.stopped_by,
                reason=record.reason,
                drift=_drift(gate_distances(gate, graph.artifact(gate, "report_artifact"))),
                model=model_of(run),
                served_version=served_version,
                served_value=served_value(served_version),
                duration_seconds=record.duration_seconds,
                node_seconds=_node_seconds(run),
                peak_rss_mib=_peak_rss(run),
                finished_ms=run.end_ms,
            )
        )
    first = min((chosen[d.span].start_ms for d in built if d.run_id), default=None)
    shown_events = tuple(e for e in events if first is None or e.at_ms >= first)
    features = sorted({c.feature for d in built for c in d.drift}, key=lambda f: (f != label, f))
    slices = sorted({s for d in built if d.model for s in d.model.slices})
    try:
        served = lineage.lineage(store, config, gate=False)
    except LookupError:
        served = None
    return Trends(
        pipeline_name=name,
        model_name=config.model_name,
        gate_metric=metric,
        label=label,
        slices=tuple(slices),
        features=tuple(features),
        days=tuple(built),
        events=shown_events,
        served=served,
    )
