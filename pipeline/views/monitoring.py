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
from typing import Callable, Iterator

import ml_metadata as mlmd
from ml_metadata.proto import metadata_store_pb2
from prometheus_client import CollectorRegistry, write_to_textfile
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from tensorflow_metadata.proto.v0 import anomalies_pb2

from components import distances
from pipeline.config import PipelineConfig
from pipeline.nodes import DATA_GATE, EVALUATOR, EXAMPLE_VALIDATOR
from pipeline.ops import history, lineage
from pipeline.ops.summary import _output_artifacts, overall_metrics

# Per-run series are kept to the newest runs: label values must stay bounded.
RECENT_RUNS = 20
RECENT_SPANS = 30
_STATUSES = ("succeeded", "failed", "running")


def _timestamp(iso: str) -> float:
    return datetime.datetime.fromisoformat(iso).replace(tzinfo=datetime.timezone.utc).timestamp()


def _node_executions(
    store: mlmd.MetadataStore, pipeline_name: str, node_id: str
) -> list[metadata_store_pb2.Execution]:
    context = store.get_context_by_type_and_name("node", f"{pipeline_name}.{node_id}")
    if context is None:
        return []
    return sorted(store.get_executions_by_context(context.id), key=lambda e: e.id)


def _span_of(store: mlmd.MetadataStore, execution_id: int) -> int | None:
    examples = _output_artifacts(store, execution_id, "examples", input_side=True)
    if not examples or "span" not in examples[0].custom_properties:
        return None
    return examples[0].custom_properties["span"].int_value


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

    def __init__(self, config: PipelineConfig, open_store: Callable[[], mlmd.MetadataStore]) -> None:
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
                [name, record.run_id, record.status, record.stopped_by or ""], record.duration_seconds
            )
            for value in _STATUSES:
                status.add_metric([name, record.run_id, value], 1.0 if record.status == value else 0.0)
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
        for execution in _node_executions(store, name, EXAMPLE_VALIDATOR):
            if execution.last_known_state != metadata_store_pb2.Execution.COMPLETE:
                continue
            span = _span_of_statistics(store, execution.id)
            outputs = _output_artifacts(store, execution.id, "anomalies")
            if span is not None and outputs:
                per_span[span] = _anomalous_features(outputs[0].uri)
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
        for execution in _node_executions(store, name, DATA_GATE):
            state = execution.last_known_state
            if state not in (metadata_store_pb2.Execution.COMPLETE, metadata_store_pb2.Execution.FAILED):
                continue
            span = _span_of(store, execution.id)
            if span is None:
                continue
            verdicts[span] = 1.0 if state == metadata_store_pb2.Execution.COMPLETE else 0.0
            reports = _output_artifacts(store, execution.id, "report_artifact")
            count = _drifted_features(reports[0].uri) if reports else None
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
            for e in _node_executions(store, name, EVALUATOR)
            if e.last_known_state == metadata_store_pb2.Execution.COMPLETE
        ]
        if evaluated:
            newest = evaluated[-1]
            outputs = _output_artifacts(store, newest.id, "evaluation")
            blessing = _output_artifacts(store, newest.id, "blessing")
            blessed = bool(blessing) and blessing[0].custom_properties["blessed"].int_value == 1
            if outputs:
                artifact = outputs[0]
                if artifact.id not in self._metrics_cache:  # TFMA loads are slow; artifacts are immutable
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


def _span_of_statistics(store: mlmd.MetadataStore, execution_id: int) -> int | None:
    # ExampleValidator's input is the statistics; their producer read the Examples.
    statistics = _output_artifacts(store, execution_id, "statistics", input_side=True)
    if not statistics:
        return None
    producers = [
        event.execution_id
        for event in store.get_events_by_artifact_ids([statistics[0].id])
        if event.type == metadata_store_pb2.Event.OUTPUT
    ]
    return _span_of(store, min(producers)) if producers else None


def registry(config: PipelineConfig, open_store: Callable[[], mlmd.MetadataStore]) -> CollectorRegistry:
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


def write_textfile(path: str, config: PipelineConfig, open_store: Callable[[], mlmd.MetadataStore]) -> None:
    """Writes the metrics for node_exporter's textfile collector (atomically).

    Args:
        path: The ``.prom`` file.
        config: The pipeline config.
        open_store: Opens the metadata store.
    """
    write_to_textfile(path, registry(config, open_store))
