"""The pipeline's health as Prometheus metrics, read from ML Metadata on each scrape.

A custom ``prometheus_client`` collector turns the run history, the data gate's
verdicts, the latest evaluation and the served version into gauges, so an alert
can fire when the daily retrain stops succeeding (``time() -
tfx_pipeline_last_success_timestamp_seconds > 26 * 3600``). Serve them with
``python -m pipeline metrics --serve`` or write a textfile for node_exporter's
textfile collector with ``--textfile``.
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
from pipeline.config import PipelineConfig
from pipeline.mlmd import queries
from pipeline.mlmd.queries import Execution
from pipeline.nodes import DATA_GATE, EVALUATOR, EXAMPLE_VALIDATOR
from pipeline.ops import history, lineage
from pipeline.ops.model_gate import overall_metrics

# Per-run series are kept to the newest runs: label values must stay bounded.
RECENT_RUNS = 20
RECENT_SPANS = 30
_STATUSES = ("succeeded", "failed", "running")


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


def _anomalous_features(uri: str) -> int:
    features: set[str] = set()
    if not os.path.isdir(uri):
        return 0
    for split in os.listdir(uri):
        path = os.path.join(uri, split, "SchemaDiff.pb")
        if os.path.isfile(path):
            anomalies = anomalies_pb2.Anomalies()
            with open(path, "rb") as handle:
                anomalies.ParseFromString(handle.read())
            features.update(anomalies.anomaly_info)
            if anomalies.data_missing:
                features.add("(dataset)")
    return len(features)


def _drifted_features(uri: str) -> int | None:
    measured = distances.read(os.path.join(uri, "DriftSkew.pbtxt"))
    drift = [d for d in measured or () if d.comparison == "drift"]
    if not drift:
        return None  # nothing to compare with (the first span) or drift turned off
    return len({d.feature for d in drift if d.exceeded})


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
        per_span: dict[int, int] = {}
        for execution in queries.node_executions(store, name, EXAMPLE_VALIDATOR):
            if execution.last_known_state != Execution.COMPLETE:
                continue
            span = _span_of_statistics(store, execution)
            output = queries.artifact(store, execution, "anomalies")
            if span is not None and output is not None:
                per_span[span] = _anomalous_features(output.uri)
        for span in sorted(per_span)[-RECENT_SPANS:]:
            anomalies.add_metric([name, str(span)], per_span[span])
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
        drift: dict[int, int] = {}
        for execution in queries.node_executions(store, name, DATA_GATE):
            state = execution.last_known_state
            if state not in (Execution.COMPLETE, Execution.FAILED):
                continue
            span = _span_of(store, execution)
            if span is None:
                continue
            verdicts[span] = 1.0 if state == Execution.COMPLETE else 0.0
            report = queries.artifact(store, execution, "report_artifact")
            count = _drifted_features(report.uri) if report is not None else None
            if count is not None:
                drift[span] = count
        for span in sorted(verdicts)[-RECENT_SPANS:]:
            passed.add_metric([name, str(span)], verdicts[span])
            if span in drift:
                drifted.add_metric([name, str(span)], drift[span])
        yield passed
        yield drifted

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
                # TFMA loads are slow; artifacts are immutable.
                if artifact.id not in self._metrics_cache:
                    self._metrics_cache[artifact.id] = overall_metrics(artifact.uri)
                for metric, value in sorted(self._metrics_cache[artifact.id].items()):
                    evaluation.add_metric([name, metric, "yes" if blessed else "no"], value)
        yield evaluation

        served = GaugeMetricFamily(
            "tfx_pipeline_served_version",
            "The model version TF Serving serves (the newest pushed version directory).",
            labels=["pipeline", "model"],
        )
        version = lineage.served_version(store, self.config)
        if version is not None and version.isdigit():
            served.add_metric([name, self.config.model_name], float(version))
        yield served


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
