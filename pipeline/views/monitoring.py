"""The pipeline's health as Prometheus metrics, read from ML Metadata on each scrape.

A custom ``prometheus_client`` collector turns the run history, the data gate's
verdicts, the latest evaluation and the served version into gauges, so an alert
can fire when the daily retrain stops succeeding (``time() -
tfx_pipeline_last_success_timestamp_seconds > 26 * 3600``). Serve them with
``python -m pipeline metrics --serve`` or write a textfile for node_exporter's
textfile collector with ``--textfile``.

The alert rules in ``deploy/prometheus/rules/pipeline.yml`` read these gauges: a day
the data gate stopped (``tfx_pipeline_data_gate_blocked_feature``, with the span, the
day and each blocking feature as labels), drift over a feature's threshold
(``tfx_pipeline_feature_drift`` against ``tfx_pipeline_feature_drift_threshold``), no
successful run and no push for too long.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Callable, Iterator

import ml_metadata as mlmd
from prometheus_client import CollectorRegistry, write_to_textfile
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from tensorflow_metadata.proto.v0 import anomalies_pb2

from components import distances
from pipeline.alerts.notify import day_label
from pipeline.config import PipelineConfig
from pipeline.mlmd import queries
from pipeline.mlmd.queries import Execution
from pipeline.nodes import DATA_GATE, EVALUATOR, EXAMPLE_VALIDATOR
from pipeline.ops import history, lineage
from pipeline.ops.model_gate import overall_metrics, recorded_metrics

# Per-run series are kept to the newest runs: label values must stay bounded.
RECENT_RUNS = 20
RECENT_SPANS = 30
# Rejected spans newer than the newest passed span get per-feature series; a long
# outage is capped here so a month of rejected days stays a handful of series.
RECENT_REJECTED_SPANS = 7
_STATUSES = ("succeeded", "failed", "running")
# What a rejected span's series names when ML Metadata holds neither the runner's
# record of the gate's error nor a blocking schema anomaly (a run killed before the
# record was written): TFX deletes a failed execution's outputs.
UNRECORDED_FEATURE = "(not in ML Metadata)"
UNRECORDED_REASON = "drift, skew or label check: see the run report"
NO_DATA = anomalies_pb2.AnomalyInfo.Type.Name(anomalies_pb2.AnomalyInfo.NO_DATA_IN_SPAN)
# Label values for the measures (the config's names for them), not the report's prose.
_MEASURE_LABELS = {
    distances.MEASURE_NAMES[anomalies_pb2.DriftSkewInfo.Measurement.JENSEN_SHANNON_DIVERGENCE]: (
        "jensen_shannon"
    ),
    distances.MEASURE_NAMES[anomalies_pb2.DriftSkewInfo.Measurement.L_INFTY]: "l_infinity",
}


def _timestamp(iso: str) -> float:
    return datetime.datetime.fromisoformat(iso).replace(tzinfo=datetime.timezone.utc).timestamp()


def _span_of(store: mlmd.MetadataStore, execution: Execution | None) -> int | None:
    # The span of the Examples an execution took (DataGate, StatisticsGen).
    return queries.span(queries.artifact(store, execution, "examples", queries.Event.INPUT))


def _span_of_statistics(store: mlmd.MetadataStore, execution: Execution) -> int | None:
    # ExampleValidator's input is the statistics; their producer read the Examples.
    statistics = queries.artifact(store, execution, "statistics", queries.Event.INPUT)
    if statistics is None:
        return None
    return _span_of(store, queries.producer(store, statistics.id))


def anomaly_kinds(uri: str) -> dict[str, set[str]]:
    """Reads ExampleValidator's anomalies: each anomalous feature and its anomaly types.

    Args:
        uri: An ``ExampleAnomalies`` artifact's directory (``Split-*/SchemaDiff.pb``).

    Returns:
        Feature -> ``AnomalyInfo.Type`` names over all splits; an empty split or a
        dataset-level anomaly is the feature ``(dataset)``, as in the gate's report.
    """
    kinds: dict[str, set[str]] = {}
    if not os.path.isdir(uri):
        return kinds
    for split in os.listdir(uri):
        path = os.path.join(uri, split, "SchemaDiff.pb")
        if not os.path.isfile(path):
            continue
        anomalies = anomalies_pb2.Anomalies()
        with open(path, "rb") as handle:
            anomalies.ParseFromString(handle.read())
        infos = list(anomalies.anomaly_info.items())
        if anomalies.HasField("dataset_anomaly_info"):
            infos.append(("(dataset)", anomalies.dataset_anomaly_info))
        for feature, info in infos:
            names = {anomalies_pb2.AnomalyInfo.Type.Name(r.type) for r in info.reason}
            kinds.setdefault(feature, set()).update(names or {"UNKNOWN_TYPE"})
        if anomalies.data_missing:
            kinds.setdefault("(dataset)", set()).add(NO_DATA)
    return kinds


def blocking_features(kinds: dict[str, set[str]], warn_only: str) -> dict[str, str]:
    """The features whose anomalies block under the gate's policy, with their types.

    The same rule as ``components.data_gate.findings``: an anomaly blocks unless
    every one of its types is in ``warn_only``.

    Args:
        kinds: From :func:`anomaly_kinds`.
        warn_only: The gate execution's ``warn_only`` (comma-separated type names).

    Returns:
        Feature -> its anomaly types, sorted and comma-joined.
    """
    tolerated = {k for k in warn_only.split(",") if k}
    return {
        feature: ",".join(sorted(names))
        for feature, names in sorted(kinds.items())
        if not names <= tolerated
    }


def _measured(uri: str) -> list[distances.Distance] | None:
    # Every distance a passing gate measured; None when it measured none (the first
    # span, drift and skew turned off) or the span was rejected (TFX deleted the file).
    found = distances.read(os.path.join(uri, "DriftSkew.pbtxt"))
    return found or None


def _blocked_by(store: mlmd.MetadataStore, gate: Execution) -> dict[str, str]:
    """The features that made a failed DataGate execution reject its span.

    The gate raised, so TFX kept neither its report nor a message; the runner records
    the gate error's blocking features (anomalies, drift, skew, the label check) on
    the execution. For an execution without that record (a run killed before it
    wrote it), its input anomalies (ExampleValidator's, kept) and its recorded
    ``warn_only`` tell which schema anomalies blocked.

    Args:
        store: The metadata store.
        gate: A FAILED DataGate execution.

    Returns:
        Feature -> anomaly types; :data:`UNRECORDED_FEATURE` when neither tells.
    """
    recorded = queries.json_property(gate, queries.GATE_BLOCKING_PROPERTY)
    if isinstance(recorded, dict) and recorded:
        return {str(feature): str(kinds) for feature, kinds in sorted(recorded.items())}
    anomalies = queries.artifact(store, gate, "anomalies", queries.Event.INPUT)
    warn_only = queries.custom(gate, "warn_only")
    kinds = anomaly_kinds(anomalies.uri) if anomalies is not None else {}
    found = blocking_features(kinds, warn_only if isinstance(warn_only, str) else "")
    return found or {UNRECORDED_FEATURE: UNRECORDED_REASON}


def _drift_metrics(
    name: str, measured: dict[int, list[distances.Distance]]
) -> Iterator[GaugeMetricFamily]:
    """Each distance of the newest span the gate measured and passed, and its limit.

    Args:
        name: The pipeline name.
        measured: Span -> the distances its passing gate measured.

    Yields:
        ``tfx_pipeline_feature_drift`` and ``tfx_pipeline_feature_drift_threshold``.
    """
    labels = ["pipeline", "span", "feature", "comparison", "measure"]
    value = GaugeMetricFamily(
        "tfx_pipeline_feature_drift",
        "Drift (against the previous passed span) or skew (against serving data) of each "
        "feature of the newest span the data gate measured and passed.",
        labels=labels,
    )
    limit = GaugeMetricFamily(
        "tfx_pipeline_feature_drift_threshold",
        "The configured limit of each tfx_pipeline_feature_drift series.",
        labels=labels,
    )
    if measured:
        span = max(measured)
        for distance in measured[span]:
            key = [
                name,
                str(span),
                distance.feature,
                distance.comparison,
                _MEASURE_LABELS.get(distance.measure, distance.measure),
            ]
            value.add_metric(key, distance.value)
            limit.add_metric(key, distance.threshold)
    yield value
    yield limit


class PipelineCollector(Collector):
    """Collects the pipeline's health from ML Metadata at scrape time.

    Attributes:
        config: The pipeline config (name, serving directory).
    """

    def __init__(
        self, config: PipelineConfig, open_store: Callable[[], mlmd.MetadataStore]
    ) -> None:
        """Initialises the collector.

        Args:
            config: The pipeline config.
            open_store: Opens the metadata store (called on each scrape, so a
                long-running exporter survives database restarts).
        """
        self.config = config
        self._open_store = open_store
        self._metrics_cache: dict[int, dict[str, float]] = {}

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """Yields the metric families.

        Returns:
            An iterator of gauges (see the module docstring).
        """
        store = self._open_store()
        name = self.config.pipeline_name
        records = [r for r in history.list_runs(store, name) if r.kind == "run"]

        last_success = GaugeMetricFamily(
            "tfx_pipeline_last_success_timestamp_seconds",
            "End time of the newest pipeline run that succeeded (Unix seconds).",
            labels=["pipeline"],
        )
        succeeded = [r for r in records if r.status == "succeeded"]
        if succeeded:
            newest = max(succeeded, key=lambda r: _timestamp(r.started) + r.duration_seconds)
            last_success.add_metric([name], _timestamp(newest.started) + newest.duration_seconds)
        yield last_success

        duration = GaugeMetricFamily(
            "tfx_pipeline_run_duration_seconds",
            f"Wall time of each of the newest {RECENT_RUNS} runs.",
            labels=["pipeline", "run_id", "status", "stopped_by"],
        )
        status = GaugeMetricFamily(
            "tfx_pipeline_run_status",
            f"1 for the status of each of the newest {RECENT_RUNS} runs.",
            labels=["pipeline", "run_id", "status"],
        )
        for record in records[:RECENT_RUNS]:
            duration.add_metric(
                [name, record.run_id, record.status, record.stopped_by or ""],
                record.duration_seconds,
            )
            for value in _STATUSES:
                status.add_metric(
                    [name, record.run_id, value], 1.0 if record.status == value else 0.0
                )
        yield duration
        yield status

        last = GaugeMetricFamily(
            "tfx_pipeline_last_run_succeeded",
            "1 if the newest run succeeded, 0 if it failed or is still running.",
            labels=["pipeline"],
        )
        if records:
            last.add_metric([name], 1.0 if records[0].status == "succeeded" else 0.0)
        yield last

        yield from self._span_metrics(store, name)
        yield from self._model_metrics(store, name)

    def _span_metrics(self, store: mlmd.MetadataStore, name: str) -> Iterator[GaugeMetricFamily]:
        anomalies = GaugeMetricFamily(
            "tfx_pipeline_span_anomalous_features",
            "Features ExampleValidator found anomalous in a span (newest validation).",
            labels=["pipeline", "span"],
        )
        per_span: dict[int, dict[str, set[str]]] = {}
        for execution in queries.node_executions(store, name, EXAMPLE_VALIDATOR):
            if execution.last_known_state != Execution.COMPLETE:
                continue
            span = _span_of_statistics(store, execution)
            output = queries.artifact(store, execution, "anomalies")
            if span is not None and output is not None:
                per_span[span] = anomaly_kinds(output.uri)
        for span in sorted(per_span)[-RECENT_SPANS:]:
            anomalies.add_metric([name, str(span)], len(per_span[span]))
        yield anomalies

        passed = GaugeMetricFamily(
            "tfx_pipeline_span_data_gate_passed",
            "1 if the span's newest data-gate verdict passed, 0 if it was rejected.",
            labels=["pipeline", "span"],
        )
        drifted = GaugeMetricFamily(
            "tfx_pipeline_span_drifted_features",
            "Features whose drift exceeded its threshold, for spans the gate measured and "
            "passed (warn-only drift); a rejected span's distances are in its run report.",
            labels=["pipeline", "span"],
        )
        verdicts: dict[int, float] = {}
        measured: dict[int, list[distances.Distance]] = {}
        blocked: dict[int, dict[str, str]] = {}
        for execution in queries.node_executions(store, name, DATA_GATE):
            state = execution.last_known_state
            if state not in (Execution.COMPLETE, Execution.FAILED):
                continue
            span = _span_of(store, execution)
            if span is None:
                continue
            # Executions come oldest first: the span's newest verdict replaces older ones.
            verdicts[span] = 1.0 if state == Execution.COMPLETE else 0.0
            measured.pop(span, None)
            blocked.pop(span, None)
            report = queries.artifact(store, execution, "report_artifact")
            found = _measured(report.uri) if report is not None else None
            if found is not None:
                measured[span] = found
            if state == Execution.FAILED:
                blocked[span] = _blocked_by(store, execution)
        for span in sorted(verdicts)[-RECENT_SPANS:]:
            passed.add_metric([name, str(span)], verdicts[span])
            drift = [d for d in measured.get(span, ()) if d.comparison == "drift"]
            if drift:
                exceeded = {d.feature for d in drift if d.exceeded}
                drifted.add_metric([name, str(span)], len(exceeded))
        yield passed
        yield drifted
        yield self._blocked_metric(name, verdicts, blocked)
        yield from _drift_metrics(name, measured)

    def _blocked_metric(
        self, name: str, verdicts: dict[int, float], blocked: dict[int, dict[str, str]]
    ) -> GaugeMetricFamily:
        """One series per blocking feature of each span stopped since the last pass.

        Only rejected spans newer than the newest passed span are listed: those are the
        days the pipeline is stuck on, and a later passing day resolves the alert.

        Args:
            name: The pipeline name.
            verdicts: Span -> 1.0 if its newest gate verdict passed, else 0.0.
            blocked: Rejected span -> its blocking features (see :func:`_blocked_by`).

        Returns:
            ``tfx_pipeline_data_gate_blocked_feature``.
        """
        family = GaugeMetricFamily(
            "tfx_pipeline_data_gate_blocked_feature",
            "1 per feature that made the data gate reject a span, for the rejected spans "
            f"newer than the newest passed span (at most {RECENT_REJECTED_SPANS}); reason "
            "is the anomaly types.",
            labels=["pipeline", "span", "day", "feature", "reason"],
        )
        newest_passed = max((s for s, v in verdicts.items() if v == 1.0), default=None)
        stuck = sorted(s for s in blocked if newest_passed is None or s > newest_passed)
        for span in stuck[-RECENT_REJECTED_SPANS:]:
            day = day_label(self.config, span)
            for feature, reason in blocked[span].items():
                family.add_metric([name, str(span), day, feature, reason], 1.0)
        return family

    def _model_metrics(self, store: mlmd.MetadataStore, name: str) -> Iterator[GaugeMetricFamily]:
        evaluation = GaugeMetricFamily(
            "tfx_pipeline_eval_metric",
            "Overall-slice metrics of the newest evaluated candidate model.",
            labels=["pipeline", "metric", "blessed"],
        )
        evaluated = [
            e
            for e in queries.node_executions(store, name, EVALUATOR)
            if e.last_known_state == Execution.COMPLETE
        ]
        if evaluated:
            newest = evaluated[-1]
            artifact = queries.artifact(store, newest, "evaluation")
            blessing = queries.artifact(store, newest, "blessing")
            blessed = blessing is not None and queries.custom(blessing, "blessed") == 1
            if artifact is not None:
                # Artifacts are immutable: read each once, from the metrics the
                # Evaluator recorded (else through TFMA, whose import is slow).
                if artifact.id not in self._metrics_cache:
                    recorded = recorded_metrics(artifact)
                    self._metrics_cache[artifact.id] = (
                        recorded["candidate"].get("overall", {})
                        if recorded is not None
                        else overall_metrics(artifact.uri)
                    )
                for metric, value in sorted(self._metrics_cache[artifact.id].items()):
                    evaluation.add_metric([name, metric, "yes" if blessed else "no"], value)
        yield evaluation

        served = GaugeMetricFamily(
            "tfx_pipeline_served_version",
            "The model version TF Serving serves under each label (stable, canary) of "
            "models.config; without that file, the newest pushed version, as stable.",
            labels=["pipeline", "model", "label"],
        )
        for label, version in lineage.current_labels(store, self.config).items():
            if version.isdigit():
                served.add_metric([name, self.config.model_name, label], float(version))
        yield served

        pushed = GaugeMetricFamily(
            "tfx_pipeline_last_push_timestamp_seconds",
            "When the newest model version was pushed (its PushedModel's creation, Unix "
            "seconds); absent before the first push.",
            labels=["pipeline", "model"],
        )
        pushes = lineage.pushed_models(store, self.config).values()
        if pushes:
            newest_ms = max(p.create_time_since_epoch for p in pushes)
            pushed.add_metric([name, self.config.model_name], newest_ms / 1000.0)
        yield pushed


def registry(
    config: PipelineConfig, open_store: Callable[[], mlmd.MetadataStore]
) -> CollectorRegistry:
    """A registry holding only the pipeline collector.

    Args:
        config: The pipeline config.
        open_store: Opens the metadata store.

    Returns:
        The registry to expose or write.
    """
    result = CollectorRegistry()
    result.register(PipelineCollector(config, open_store))
    return result


def write_textfile(
    path: str, config: PipelineConfig, open_store: Callable[[], mlmd.MetadataStore]
) -> None:
    """Writes the metrics for node_exporter's textfile collector (atomically).

    Args:
        path: The ``.prom`` file.
        config: The pipeline config.
        open_store: Opens the metadata store.
    """
    write_to_textfile(path, registry(config, open_store))
