"""A run's summary, read back from ML Metadata (not from the runner's memory).

Reading MLMD means the summary describes what TFX actually recorded: which nodes
executed or were cache hits, the evaluation, the blessing and the push.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Iterable, Mapping

import ml_metadata as mlmd
from ml_metadata.proto import metadata_store_pb2

from pipeline.nodes import DATA_GATE, EVALUATOR, PUSHER

# components.data_gate.REPORT_FILE (not imported: that module imports TFX and TFDV).
GATE_REPORT_FILE = "data_gate_report.txt"

PIPELINE_CONTEXT = "pipeline"
RUN_CONTEXT = "pipeline_run"
NODE_CONTEXT = "node"

_STATE_NAMES = {
    metadata_store_pb2.Execution.COMPLETE: "ran",
    metadata_store_pb2.Execution.CACHED: "cached",
    metadata_store_pb2.Execution.FAILED: "failed",
    metadata_store_pb2.Execution.RUNNING: "running",
    metadata_store_pb2.Execution.NEW: "new",
    metadata_store_pb2.Execution.CANCELED: "canceled",
}


@dataclasses.dataclass(frozen=True)
class NodeRun:
    """One node's execution in a run.

    Attributes:
        node_id: The component id (e.g. ``Trainer``).
        state: ``ran``, ``cached``, ``resolved`` (resolver nodes), ``failed``, ...
        seconds: Wall time from the execution's creation to its last update.
        execution_id: The MLMD execution id.
    """

    node_id: str
    state: str
    seconds: float
    execution_id: int


@dataclasses.dataclass(frozen=True)
class RunSummary:
    """What a pipeline run did.

    Attributes:
        pipeline_name: The pipeline.
        run_id: The MLMD ``pipeline_run`` context name.
        nodes: Node executions in execution order.
        metrics: Overall-slice evaluation metrics of the candidate model.
        blessed: Whether the Evaluator blessed the model (None if it did not run).
        baseline_model_uri: The baseline the candidate was compared to, if any.
        pushed: Whether the Pusher pushed the model.
        pushed_destination: The version directory TF Serving loads, when pushed.
        model_uri: The candidate model artifact.
        backfilled_spans: Older spans of the window validated before this run.
        rejected_spans: Those of them the data gate (or ingestion) rejected, with
            the reason; they stay out of every training window.
        data_gate_report: The data gate's report on the newest span (warnings,
            drift and skew distances against their thresholds).
    """

    pipeline_name: str
    run_id: str
    nodes: tuple[NodeRun, ...]
    metrics: dict[str, float]
    blessed: bool | None
    baseline_model_uri: str | None
    pushed: bool
    pushed_destination: str | None
    model_uri: str | None
    backfilled_spans: tuple[int, ...] = ()
    rejected_spans: Mapping[int, str] = dataclasses.field(default_factory=dict)
    data_gate_report: str = ""

    def node(self, node_id: str) -> NodeRun:
        """Returns the execution of ``node_id`` in this run.

        Args:
            node_id: A component id.

        Returns:
            Its NodeRun.

        Raises:
            KeyError: If the node did not execute in this run.
        """
        for node in self.nodes:
            if node.node_id == node_id:
                return node
        raise KeyError(node_id)

    def format(self) -> str:
        """Renders the summary as the table ``python -m pipeline run`` prints.

        Returns:
            Human-readable multi-line text.
        """
        lines = [f"Pipeline {self.pipeline_name!r}, run {self.run_id}", ""]
        if self.backfilled_spans:
            spans = ", ".join(str(span) for span in self.backfilled_spans)
            lines += [f"Validated older spans of the training window first: {spans}"]
            for span, reason in sorted(self.rejected_spans.items()):
                lines.append(f"  span {span} rejected, left out of the window: {reason}")
            lines.append("")
        lines.append(f"  {'component':<24}{'result':<10}{'seconds':>8}")
        for node in self.nodes:
            lines.append(f"  {node.node_id:<24}{node.state:<10}{node.seconds:>8.1f}")
        lines.append("")
        if self.data_gate_report:
            lines += [self.data_gate_report, ""]
        if self.metrics:
            lines.append("Evaluation (eval split of the newest span, all examples):")
            for name, value in sorted(self.metrics.items()):
                lines.append(f"  {name:<32}{value:.4f}")
        if self.blessed is not None:
            baseline = self.baseline_model_uri or "none (first model)"
            lines.append(f"Blessed: {'yes' if self.blessed else 'no'} (baseline: {baseline})")
        if self.pushed:
            lines.append(f"Pushed to: {self.pushed_destination}")
        else:
            lines.append("Pushed: nothing new this run")
        return "\n".join(lines)


def _context(store: mlmd.MetadataStore, type_name: str, name: str) -> metadata_store_pb2.Context | None:
    return store.get_context_by_type_and_name(type_name, name)


def ingested_spans(store: mlmd.MetadataStore, pipeline_name: str, example_gen_id: str) -> set[int]:
    """Returns the span numbers an ExampleGen node has ingested.

    Args:
        store: The metadata store.
        pipeline_name: The pipeline.
        example_gen_id: The ExampleGen node id.

    Returns:
        Span numbers of the node's Examples outputs.
    """
    node = _context(store, NODE_CONTEXT, f"{pipeline_name}.{example_gen_id}")
    if node is None:
        return set()
    return {
        int(_custom(artifact, "span") or 0)
        for artifact in store.get_artifacts_by_context(node.id)
        if artifact.type == "Examples" and "span" in artifact.custom_properties
    }


def validated_spans(store: mlmd.MetadataStore, pipeline_name: str) -> set[int]:
    """Returns the spans the DataGate has judged (passed or rejected).

    Args:
        store: The metadata store.
        pipeline_name: The pipeline.

    Returns:
        Span numbers of the Examples the gate's executions took as input.
    """
    node = _context(store, NODE_CONTEXT, f"{pipeline_name}.{DATA_GATE}")
    if node is None:
        return set()
    executions = [
        e.id
        for e in store.get_executions_by_context(node.id)
        if e.last_known_state
        in (metadata_store_pb2.Execution.COMPLETE, metadata_store_pb2.Execution.FAILED)
    ]
    ids = {
        event.artifact_id
        for event in store.get_events_by_execution_ids(executions)
        if event.type == metadata_store_pb2.Event.INPUT
        and any(step.key == "examples" for step in event.path.steps)
    }
    return {
        int(_custom(artifact, "span") or 0)
        for artifact in (store.get_artifacts_by_id(list(ids)) if ids else [])
        if "span" in artifact.custom_properties
    }


def _output_artifacts(
    store: mlmd.MetadataStore, execution_id: int, key: str, input_side: bool = False
) -> list[metadata_store_pb2.Artifact]:
    wanted = metadata_store_pb2.Event.INPUT if input_side else metadata_store_pb2.Event.OUTPUT
    ids = [
        event.artifact_id
        for event in store.get_events_by_execution_ids([execution_id])
        if event.type == wanted and any(step.key == key for step in event.path.steps)
    ]
    return store.get_artifacts_by_id(ids) if ids else []


def _custom(artifact: metadata_store_pb2.Artifact, key: str) -> int | str | float | None:
    if key not in artifact.custom_properties:
        return None
    value = artifact.custom_properties[key]
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else None


def _read_text(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError:  # a report from before the gate wrote one
        return ""


def overall_metrics(evaluation_uri: str) -> dict[str, float]:
    """Loads the overall-slice metrics TFMA wrote for the candidate model.

    Args:
        evaluation_uri: The Evaluator's ``evaluation`` artifact URI.

    Returns:
        Metric name -> value (diffs against the baseline are left out).
    """
    import tensorflow_model_analysis as tfma  # heavy; only needed when there are metrics

    metrics: dict[str, float] = {}
    for slice_metrics in tfma.load_metrics(evaluation_uri):
        if slice_metrics.slice_key.single_slice_keys:
            continue
        for kv in slice_metrics.metric_keys_and_values:
            if kv.key.is_diff or kv.key.model_name == "baseline":
                continue
            if kv.value.HasField("double_value"):
                metrics[kv.key.name] = kv.value.double_value.value
    return metrics


def summarize_run(
    store: mlmd.MetadataStore, pipeline_name: str, run_id: str, node_order: Iterable[str]
) -> RunSummary:
    """Builds a run's summary from ML Metadata.

    Args:
        store: The metadata store.
        pipeline_name: The pipeline.
        run_id: The ``pipeline_run`` context name.
        node_order: Node ids in pipeline order (nodes absent from the run are skipped).

    Returns:
        The summary.

    Raises:
        LookupError: If the run is not in the store.
    """
    run = _context(store, RUN_CONTEXT, run_id)
    if run is None:
        raise LookupError(f"no run {run_id!r} in ML Metadata")
    by_node: dict[str, metadata_store_pb2.Execution] = {}
    for execution in store.get_executions_by_context(run.id):
        for context in store.get_contexts_by_execution(execution.id):
            if context.type == NODE_CONTEXT:
                by_node[context.name.split(".", 1)[-1]] = execution
    type_names = {
        t.id: t.name
        for t in store.get_execution_types_by_id(list({e.type_id for e in by_node.values()}))
    }

    def state(execution: metadata_store_pb2.Execution) -> str:
        # Resolver nodes only look artifacts up in MLMD; "ran" would mislead.
        if (
            execution.last_known_state == metadata_store_pb2.Execution.COMPLETE
            and type_names.get(execution.type_id, "").endswith(".Resolver")
        ):
            return "resolved"
        return _STATE_NAMES.get(execution.last_known_state, "unknown")

    nodes = tuple(
        NodeRun(
            node_id=node_id,
            state=state(by_node[node_id]),
            seconds=max(
                by_node[node_id].last_update_time_since_epoch
                - by_node[node_id].create_time_since_epoch,
                0,
            )
            / 1000.0,
            execution_id=by_node[node_id].id,
        )
        for node_id in node_order
        if node_id in by_node
    )

    metrics: dict[str, float] = {}
    blessed = baseline_uri = model_uri = destination = None
    pushed = False
    evaluator = by_node.get(EVALUATOR)
    if evaluator is not None:
        evaluation = _output_artifacts(store, evaluator.id, "evaluation")
        if evaluation:
            metrics = overall_metrics(evaluation[0].uri)
        blessing = _output_artifacts(store, evaluator.id, "blessing")
        if blessing:
            blessed = _custom(blessing[0], "blessed") == 1
        baseline = _output_artifacts(store, evaluator.id, "baseline_model", input_side=True)
        baseline_uri = baseline[0].uri if baseline else None
        model = _output_artifacts(store, evaluator.id, "model", input_side=True)
        model_uri = model[0].uri if model else None
    gate_report = ""
    gate = by_node.get(DATA_GATE)
    if gate is not None:
        reports = _output_artifacts(store, gate.id, "report_artifact")
        if reports:
            gate_report = _read_text(os.path.join(reports[0].uri, GATE_REPORT_FILE))
    pusher = by_node.get(PUSHER)
    if pusher is not None and pusher.last_known_state == metadata_store_pb2.Execution.COMPLETE:
        pushed_model = _output_artifacts(store, pusher.id, "pushed_model")
        if pushed_model and _custom(pushed_model[0], "pushed") == 1:
            pushed = True
            destination = str(_custom(pushed_model[0], "pushed_destination"))
    return RunSummary(
        pipeline_name=pipeline_name,
        run_id=run_id,
        nodes=nodes,
        metrics=metrics,
        blessed=blessed,
        baseline_model_uri=baseline_uri,
        pushed=pushed,
        pushed_destination=destination,
        model_uri=model_uri,
        data_gate_report=gate_report,
    )
