"""A run's summary, read back from ML Metadata (not from the runner's memory).

Reading MLMD means the summary describes what TFX actually recorded: which nodes
executed or were cache hits, the evaluation, why the model was (not) blessed (TFMA's
own thresholds, values and verdicts) and the push. The facts are gathered here; the
text is :mod:`pipeline.views.summary`, the HTML page :mod:`pipeline.views.report`.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterable, Mapping

import ml_metadata as mlmd

from pipeline.mlmd import queries
from pipeline.nodes import (
    DATA_GATE,
    EVALUATOR,
    PUSHER,
    TFLITE_CONVERTER,
    TRAINER,
    execution_order,
)
from pipeline.ops.model_gate import ModelGate, model_gate, overall_metrics
from pipeline.ops.standard_errors import standard_errors

# components.data_gate.REPORT_FILE and components.model.warm_start.DECISION_FILE (not
# imported: those modules import TFX, TFDV and TensorFlow).
GATE_REPORT_FILE = "data_gate_report.txt"
# components.eval_sample.SAMPLE_SIZE_PROPERTY and POPULATION_PROPERTY (not imported:
# that module imports TFX and Beam).
SAMPLE_SIZE_PROPERTY = "eval_examples"
POPULATION_PROPERTY = "eval_population"
WARM_START_FILE = "warm_start.json"


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
class TFLiteExport:
    """The TFLite conversion of the run's model, as the converter and Pusher recorded it.

    Attributes:
        within_bound: Whether the metric delta was within the configured bound.
        reason: The converter's reason (the comparison, or why nothing was measured).
        size_bytes: ``model.tflite``'s size (0 when conversion failed).
        float_size_bytes: The float SavedModel directory's size.
        quantized_weights: int8 weight tensors (dynamic-range quantization leaves
            tensors under 1,024 elements in float32).
        metric: The gate metric (None when nothing was measured).
        float_value: The float SavedModel's value.
        tflite_value: The TFLite model's value.
        delta: Float minus TFLite.
        max_delta: ``export.tflite_max_metric_delta``.
        pushed: Whether the Pusher pushed ``model.tflite`` in this run (None: the
            Pusher did not run in this run, e.g. a cache hit).
        push_reason: The Pusher's reason.
    """

    within_bound: bool
    reason: str
    size_bytes: int
    float_size_bytes: int
    quantized_weights: int = 0
    metric: str | None = None
    float_value: float | None = None
    tflite_value: float | None = None
    delta: float | None = None
    max_delta: float | None = None
    pushed: bool | None = None
    push_reason: str = ""


@dataclasses.dataclass(frozen=True)
class EvalSample:
    """The seeded sample the Evaluator judged on (``evaluation.max_examples``).

    Attributes:
        examples: Eval rows evaluated (candidate and baseline alike).
        population: Rows in the eval split the sample was drawn from.
        metric_key: TFMA's name for the gate metric (e.g. ``auc``).
        standard_error: The candidate's gate metric's standard error over the
            sample (None if none could be computed).
        change_standard_error: The standard error of candidate minus baseline
            (None without a baseline).
        method: How the errors were computed (:mod:`pipeline.ops.standard_errors`).
        change_is_bound: Whether ``change_standard_error`` is an upper bound.
    """

    examples: int
    population: int
    metric_key: str
    standard_error: float | None = None
    change_standard_error: float | None = None
    method: str = ""
    change_is_bound: bool = False


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
        model_gate: Why the model was (not) blessed, from TFMA's own output
            (None when the Evaluator did not run or recorded no thresholds).
        warm_start: What the Trainer started from (its ``warm_start.json``), or ""
            when the Trainer did not complete.
        model_run_uri: The Trainer's ModelRun (TensorBoard logs), if it completed.
        tflite: The TFLite conversion and its push (None without the converter).
        eval_sample: The sample the Evaluator judged on (None: every eval row).
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
    model_gate: ModelGate | None = None
    warm_start: str = ""
    model_run_uri: str | None = None
    tflite: TFLiteExport | None = None
    eval_sample: EvalSample | None = None

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


# ---------------------------------------------------------------------------- spans


def ingested_spans(store: mlmd.MetadataStore, pipeline_name: str, example_gen_id: str) -> set[int]:
    """Returns the span numbers an ExampleGen node has ingested.

    Args:
        store: The metadata store.
        pipeline_name: The pipeline.
        example_gen_id: The ExampleGen node id.

    Returns:
        Span numbers of the node's Examples outputs.
    """
    return set(
        queries.spans(queries.node_artifacts(store, pipeline_name, example_gen_id, "Examples"))
    )


def validated_spans(store: mlmd.MetadataStore, pipeline_name: str) -> set[int]:
    """Returns the spans the DataGate has judged (passed or rejected).

    A gate that failed judged its span too (it rejected it); one that was canceled
    or is still running did not.

    Args:
        store: The metadata store.
        pipeline_name: The pipeline.

    Returns:
        Span numbers of the Examples the gate's executions took as input.
    """
    judged = (queries.Execution.COMPLETE, queries.Execution.FAILED)
    examples = [
        artifact
        for execution in queries.node_executions(store, pipeline_name, DATA_GATE)
        if execution.last_known_state in judged
        for artifact in queries.artifacts(store, execution.id, "examples", queries.Event.INPUT)
    ]
    return set(queries.spans(examples))


# ------------------------------------------------------------------------ the run


def _read_text(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError:  # a report from before the gate wrote one
        return ""


def _node_runs(
    store: mlmd.MetadataStore, by_node: Mapping[str, queries.Execution], order: Iterable[str]
) -> tuple[NodeRun, ...]:
    """The run's executions in ``order`` (nodes absent from the run are skipped)."""

    def state(execution: queries.Execution) -> str:
        if execution.last_known_state != queries.Execution.COMPLETE:
            return queries.state_name(execution)
        # Resolver nodes only look artifacts up in MLMD; "ran" would mislead.
        resolver = queries.execution_type(store, execution).endswith(".Resolver")
        return "resolved" if resolver else "ran"

    return tuple(
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
        for node_id in order
        if node_id in by_node
    )


@dataclasses.dataclass(frozen=True)
class _Evaluation:
    """What the Evaluator took and recorded in a run (all empty without one)."""

    metrics: dict[str, float] = dataclasses.field(default_factory=dict)
    blessed: bool | None = None
    gate: ModelGate | None = None
    baseline_uri: str | None = None
    model_uri: str | None = None
    sample: EvalSample | None = None


def _eval_sample(evaluation: queries.Artifact, gate: ModelGate | None) -> EvalSample | None:
    """The sample recorded on the ModelEvaluation, with the gate metric's errors."""
    if SAMPLE_SIZE_PROPERTY not in evaluation.custom_properties:
        return None
    metric_key = gate.metric_key if gate is not None else ""
    examples = int(queries.custom(evaluation, SAMPLE_SIZE_PROPERTY) or 0)
    errors = standard_errors(evaluation.uri, metric_key, examples) if gate else None
    return EvalSample(
        examples=examples,
        population=int(queries.custom(evaluation, POPULATION_PROPERTY) or 0),
        metric_key=metric_key,
        standard_error=None if errors is None else errors.candidate,
        change_standard_error=None if errors is None else errors.change,
        method="" if errors is None else errors.method,
        change_is_bound=errors is not None and errors.change_is_bound,
    )


def _evaluation(store: mlmd.MetadataStore, evaluator: queries.Execution | None) -> _Evaluation:
    if evaluator is None:
        return _Evaluation()
    evaluation = queries.artifact(store, evaluator, "evaluation")
    blessing = queries.artifact(store, evaluator, "blessing")
    blessed = None if blessing is None else queries.custom(blessing, "blessed") == 1
    gate = None
    # An Evaluator in these states wrote (or, for a cache hit, reused) its evaluation.
    if evaluation is not None and evaluator.last_known_state in queries.DONE:
        gate = model_gate(evaluation.uri, blessed)
    baseline = queries.artifact(store, evaluator, "baseline_model", queries.Event.INPUT)
    model = queries.artifact(store, evaluator, "model", queries.Event.INPUT)
    sample = None
    if evaluation is not None and evaluator.last_known_state in queries.DONE:
        sample = _eval_sample(evaluation, gate)
    return _Evaluation(
        metrics={} if evaluation is None else overall_metrics(evaluation.uri),
        blessed=blessed,
        gate=gate,
        baseline_uri=None if baseline is None else baseline.uri,
        model_uri=None if model is None else model.uri,
        sample=sample,
    )


def _training(
    store: mlmd.MetadataStore, trainer: queries.Execution | None
) -> tuple[str, str | None]:
    """What the Trainer started from (its warm-start decision) and its ModelRun."""
    if trainer is None or trainer.last_known_state not in queries.DONE:
        return "", None
    model_run = queries.artifact(store, trainer, "model_run")
    if model_run is None:
        return "", None
    decision = _read_text(os.path.join(model_run.uri, WARM_START_FILE))
    return (json.loads(decision)["reason"] if decision else ""), model_run.uri


def _pushed_model(
    store: mlmd.MetadataStore, pusher: queries.Execution | None
) -> queries.Artifact | None:
    """The PushedModel of a Pusher that ran in this run (not of a cache hit)."""
    if pusher is None or pusher.last_known_state != queries.Execution.COMPLETE:
        return None
    return queries.artifact(store, pusher, "pushed_model")


def _tflite_export(
    store: mlmd.MetadataStore,
    converter: queries.Execution | None,
    pushed_model: queries.Artifact | None,
) -> TFLiteExport | None:
    """The converter's TFLiteModel and the Pusher's record of it (this run's Pusher)."""
    if converter is None or converter.last_known_state not in queries.DONE:
        return None
    artifact = queries.artifact(store, converter, "tflite_model")
    if artifact is None:
        return None

    def number(key: str) -> float | None:
        value = queries.custom(artifact, key)
        return None if value is None else float(value)

    pushed: bool | None = None
    push_reason = ""
    if pushed_model is not None and "tflite_pushed" in pushed_model.custom_properties:
        pushed = queries.custom(pushed_model, "tflite_pushed") == 1
        push_reason = str(queries.custom(pushed_model, "tflite_reason") or "")
    metric = queries.custom(artifact, "metric")
    return TFLiteExport(
        within_bound=queries.custom(artifact, "within_bound") == 1,
        reason=str(queries.custom(artifact, "reason") or ""),
        size_bytes=int(queries.custom(artifact, "size_bytes") or 0),
        float_size_bytes=int(queries.custom(artifact, "float_size_bytes") or 0),
        quantized_weights=int(queries.custom(artifact, "quantized_weights") or 0),
        metric=None if metric is None else str(metric),
        float_value=number("float_value"),
        tflite_value=number("tflite_value"),
        delta=number("delta"),
        max_delta=number("max_delta"),
        pushed=pushed,
        push_reason=push_reason,
    )


def summarize_run(
    store: mlmd.MetadataStore,
    pipeline_name: str,
    run_id: str,
    node_order: Iterable[str] | None = None,
) -> RunSummary:
    """Builds a run's summary from ML Metadata.

    Args:
        store: The metadata store.
        pipeline_name: The pipeline.
        run_id: The ``pipeline_run`` context name.
        node_order: Node ids in pipeline order (nodes absent from the run are
            skipped); None for :func:`pipeline.nodes.execution_order` of the run's.

    Returns:
        The summary.

    Raises:
        LookupError: If the pipeline has no such run in the store.
    """
    by_node = queries.run(store, pipeline_name, run_id).by_node
    if node_order is None:
        node_order = execution_order(by_node, lambda node: by_node[node].id)
    evaluation = _evaluation(store, by_node.get(EVALUATOR))
    gate_report = ""
    report = queries.artifact(store, by_node.get(DATA_GATE), "report_artifact")
    if report is not None:
        gate_report = _read_text(os.path.join(report.uri, GATE_REPORT_FILE))
    warm_start, model_run_uri = _training(store, by_node.get(TRAINER))
    pushed_model = _pushed_model(store, by_node.get(PUSHER))
    pushed = pushed_model is not None and queries.custom(pushed_model, "pushed") == 1
    return RunSummary(
        pipeline_name=pipeline_name,
        run_id=run_id,
        nodes=_node_runs(store, by_node, node_order),
        metrics=evaluation.metrics,
        blessed=evaluation.blessed,
        baseline_model_uri=evaluation.baseline_uri,
        pushed=pushed,
        pushed_destination=(
            str(queries.custom(pushed_model, "pushed_destination")) if pushed else None
        ),
        model_uri=evaluation.model_uri,
        data_gate_report=gate_report,
        model_gate=evaluation.gate,
        warm_start=warm_start,
        model_run_uri=model_run_uri,
        tflite=_tflite_export(store, by_node.get(TFLITE_CONVERTER), pushed_model),
        eval_sample=evaluation.sample,
    )
