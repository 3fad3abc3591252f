"""A run's summary, read back from ML Metadata (not from the runner's memory).

Reading MLMD means the summary describes what TFX actually recorded: which nodes
executed or were cache hits, the evaluation, why the model was (not) blessed (TFMA's
own thresholds, values and verdicts) and the push.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
from typing import Any, Iterable, Mapping

import ml_metadata as mlmd
from google.protobuf import text_format
from ml_metadata.proto import metadata_store_pb2

from pipeline.nodes import DATA_GATE, EVALUATOR, PUSHER, TFLITE_CONVERTER, TRAINER

# components.data_gate.REPORT_FILE and components.model.warm_start.DECISION_FILE (not
# imported: those modules import TFX, TFDV and TensorFlow).
GATE_REPORT_FILE = "data_gate_report.txt"
WARM_START_FILE = "warm_start.json"

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

# An Evaluator in these states wrote (or, for a cache hit, reused) its evaluation.
_DONE = (metadata_store_pb2.Execution.COMPLETE, metadata_store_pb2.Execution.CACHED)


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


GATE_SCOPE = "overall slice, eval split of the newest span"
"""Where the Evaluator's gate applies (see ``pipeline.pipeline.eval_config``)."""


def _check(passed: bool | None) -> str:
    return "PASS" if passed else "FAIL"


def _value_check(gate: "ModelGate | SliceCheck", metric_key: str) -> str:
    """``candidate 0.81 >= lower bound 0.65 -> PASS`` for a gate or a slice check."""
    if gate.value is None:
        return f"candidate: TFMA recorded no {metric_key} -> FAIL"
    text = f"candidate {gate.value:.4f}"
    if gate.value_passed is None:
        return f"{text} (no bound)"
    bounds = []
    if gate.lower_bound is not None:
        op = ">=" if gate.value >= gate.lower_bound else "<"
        bounds.append(f"{op} lower bound {gate.lower_bound:.4f}")
    if gate.upper_bound is not None:
        op = "<=" if gate.value <= gate.upper_bound else ">"
        bounds.append(f"{op} upper bound {gate.upper_bound:.4f}")
    return f"{text} {' and '.join(bounds)} -> {_check(gate.value_passed)}"


def _change_check(gate: "ModelGate | SliceCheck") -> str:
    """``baseline 0.80, change +0.01 >= allowed -0.01 -> PASS`` (or why there is none)."""
    if gate.baseline_value is None and gate.allowed_change is None:
        return "no baseline (first model), no comparison"
    baseline = "baseline: none" if gate.baseline_value is None else (
        f"baseline {gate.baseline_value:.4f}"
    )
    if gate.change is None:
        change = "change: not recorded"
    else:
        change = f"change {gate.change:+.4f}"
    if gate.allowed_change is None:
        return f"{baseline}, {change} (no change threshold)"
    if gate.change is None:
        return f"{baseline}, {change}, allowed {gate.allowed_change:+.4f} -> FAIL"
    if gate.higher_is_better:
        op = ">=" if gate.change >= gate.allowed_change else "<"
    else:
        op = "<=" if gate.change <= gate.allowed_change else ">"
    return (
        f"{baseline}, {change} {op} allowed {gate.allowed_change:+.4f} "
        f"-> {_check(gate.change_passed)}"
    )


@dataclasses.dataclass(frozen=True)
class SliceCheck:
    """One per-slice threshold on one slice, as TFMA applied and judged it.

    Attributes:
        slice: The slice TFMA computed, e.g. ``device=tablet``.
        spec: The threshold's slicing spec, e.g. ``device=*`` (every device) or
            ``device=tablet``; one slice can be checked by several specs.
        value: The candidate's value on the slice (None if TFMA has none).
        lower_bound: The value threshold's lower bound (None if it has none).
        upper_bound: The value threshold's upper bound (None if it has none).
        value_passed: Whether the value check passed (None: no value threshold).
        baseline_value: The baseline model's value on the slice (None without one).
        change: Candidate minus baseline on the slice (None without baseline).
        allowed_change: The change threshold's absolute bound (None: no change
            threshold applied, e.g. for the first model).
        higher_is_better: The change threshold's direction.
        change_passed: Whether the change check passed (None: no change threshold).
        example_count: The slice's examples, when ``ExampleCount`` is computed.
    """

    slice: str
    spec: str
    value: float | None
    lower_bound: float | None = None
    upper_bound: float | None = None
    value_passed: bool | None = None
    baseline_value: float | None = None
    change: float | None = None
    allowed_change: float | None = None
    higher_is_better: bool = True
    change_passed: bool | None = None
    example_count: float | None = None

    @property
    def passed(self) -> bool:
        """False if TFMA failed the value or the change check on this slice."""
        return self.value_passed is not False and self.change_passed is not False

    def format(self, metric_key: str) -> str:
        """Renders the check as one line.

        Args:
            metric_key: TFMA's name of the metric (for a missing value).

        Returns:
            E.g. ``device=tablet (52 examples; threshold for device=*): candidate
            0.5912 < lower bound 0.6000 -> FAIL; baseline 0.6500, change -0.0588 <
            allowed -0.0200 -> FAIL``; without a baseline the line ends after the
            value check (the overall line already says there is none).
        """
        context = [] if self.example_count is None else [f"{self.example_count:.0f} examples"]
        if self.spec != self.slice:
            context.append(f"threshold for {self.spec}")
        where = f"{self.slice} ({'; '.join(context)})" if context else self.slice
        line = f"{where}: {_value_check(self, metric_key)}"
        if self.baseline_value is not None or self.allowed_change is not None:
            line += f"; {_change_check(self)}"
        return line


@dataclasses.dataclass(frozen=True)
class ModelGate:
    """The Evaluator's blessing decision on its gate metric, as TFMA recorded it.

    Values come from the metrics TFMA wrote, thresholds from the eval config TFMA
    stored with them (after TFX dropped the change threshold when there was no
    baseline), and each check's verdict from TFMA's validation result, so the
    summary tells what was actually applied rather than what the YAML asks for.

    Attributes:
        metric: The metric's class name in the eval config (e.g. ``AUC``).
        metric_key: TFMA's name for its value (e.g. ``auc``).
        value: The candidate's value on the overall slice (None if TFMA has none).
        lower_bound: The value threshold's lower bound (None if it has none).
        upper_bound: The value threshold's upper bound (None if it has none).
        value_passed: Whether the value check passed (None: no value threshold).
        baseline_value: The baseline model's value (None on the first model).
        change: Candidate minus baseline, TFMA's diff metric (None without baseline).
        allowed_change: The change threshold's absolute bound (None when TFMA
            applied no change threshold, e.g. for the first model).
        higher_is_better: The change threshold's direction.
        change_passed: Whether the change check passed (None: no change threshold).
        blessed: Whether the Evaluator blessed the model (its ModelBlessing).
        failures: TFMA's validation failures, one line each: the metric key, value
            and threshold TFMA recorded, and its message when it wrote one (TFMA
            leaves the message empty for a plain threshold violation).
        slices: The per-slice thresholds' checks (``evaluation.slice_thresholds``),
            one per computed slice and threshold spec, in slice order.
    """

    metric: str
    metric_key: str
    value: float | None
    lower_bound: float | None
    value_passed: bool | None
    baseline_value: float | None = None
    change: float | None = None
    allowed_change: float | None = None
    change_passed: bool | None = None
    blessed: bool | None = None
    upper_bound: float | None = None
    higher_is_better: bool = True
    failures: tuple[str, ...] = ()
    slices: tuple[SliceCheck, ...] = ()

    def format(self, pushed: bool) -> str:
        """Renders the gate as one line, then the slice checks and TFMA's failures.

        Args:
            pushed: Whether the Pusher pushed the model in this run.

        Returns:
            E.g. ``Model gate on AUC (overall slice, ...): candidate 0.5123 < lower
            bound 0.6500 -> FAIL; baseline 0.7990, change -0.2867 < allowed -0.0100
            -> FAIL. Not blessed, not pushed; the served model is unchanged.``
        """
        line = (
            f"Model gate on {self.metric} ({GATE_SCOPE}): "
            f"{_value_check(self, self.metric_key)}; {_change_check(self)}."
        )
        if self.blessed is True:
            line += " Blessed and pushed." if pushed else " Blessed; nothing new pushed this run."
        elif self.blessed is False:
            line += " Not blessed." if pushed else (
                " Not blessed, not pushed; the served model is unchanged."
            )
        lines = [line]
        if self.slices:
            failed = sum(not check.passed for check in self.slices)
            verdict = f"{failed} of {len(self.slices)} FAIL" if failed else "all PASS"
            lines.append(f"  Slice thresholds on {self.metric} ({verdict}):")
            lines += [f"    {check.format(self.metric_key)}" for check in self.slices]
        if self.failures:
            lines.append("  TFMA validation failures:")
            lines += [f"    {failure}" for failure in self.failures]
        return "\n".join(lines)


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

    def format(self, destination: str | None = None) -> str:
        """Renders one line: size, both metric values, the delta and the push.

        Args:
            destination: The pushed version directory, when the model was pushed.

        Returns:
            E.g. ``TFLite: 33,144 bytes (float SavedModel 524,974 bytes, 0 int8 weight
            tensors); AUC float 0.7989, TFLite 0.7989, delta +0.0000 <= bound 0.0100
            -> pushed as .../model.tflite.``
        """
        head = f"TFLite: {self.size_bytes:,} bytes (float SavedModel {self.float_size_bytes:,} bytes"
        head += f", {self.quantized_weights} int8 weight tensors)"
        if self.metric is not None and self.delta is not None and self.max_delta is not None:
            op = "<=" if self.within_bound else ">"
            measured = (
                f"{self.metric} float {self.float_value:.4f}, TFLite {self.tflite_value:.4f}, "
                f"delta {self.delta:+.4f} (|delta| {op} bound {self.max_delta:.4f})"
            )
        else:
            measured = self.reason
        if self.pushed:
            where = f"{destination}/model.tflite" if destination else "model.tflite"
            verdict = f"pushed as {where}"
        elif not self.within_bound:
            verdict = "refused, model.tflite not pushed (the SavedModel is unaffected)"
        elif self.pushed is None:
            verdict = "within bound; nothing new pushed this run"
        else:
            verdict = f"within bound; {self.push_reason or 'not pushed'}"
        return f"{head}; {measured} -> {verdict}."


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
        width = max([len(node.node_id) for node in self.nodes] + [22]) + 2
        lines.append(f"  {'component':<{width}}{'result':<10}{'seconds':>8}")
        for node in self.nodes:
            lines.append(f"  {node.node_id:<{width}}{node.state:<10}{node.seconds:>8.1f}")
        lines.append("")
        if self.data_gate_report:
            lines += [self.data_gate_report, ""]
        if self.warm_start:
            lines.append(f"Training: {self.warm_start}")
        if self.model_run_uri:
            lines += [f"TensorBoard: tensorboard --logdir {self.model_run_uri}", ""]
        if self.metrics:
            lines.append("Evaluation (eval split of the newest span, all examples):")
            for name, value in sorted(self.metrics.items()):
                lines.append(f"  {name:<32}{value:.4f}")
        if self.model_gate is not None:
            lines.append(self.model_gate.format(self.pushed))
        if self.blessed is not None:
            baseline = self.baseline_model_uri or "none (first model)"
            lines.append(f"Blessed: {'yes' if self.blessed else 'no'} (baseline: {baseline})")
        if self.pushed:
            lines.append(f"Pushed to: {self.pushed_destination}")
        else:
            lines.append("Pushed: nothing new this run")
        if self.tflite is not None:
            lines.append(self.tflite.format(self.pushed_destination))
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


def _slice_name(slice_key: Any) -> str:
    """``overall`` or ``column=value, ...`` for a TFMA ``SliceKey`` proto."""
    parts = []
    for single in slice_key.single_slice_keys:
        kind = single.WhichOneof("kind")
        value = getattr(single, kind) if kind else ""
        parts.append(f"{single.column}={value.decode() if isinstance(value, bytes) else value}")
    return ", ".join(parts) or "overall"


def _describe_failure(failure: Any, slice_name: str) -> str:
    """One line for a TFMA ``ValidationFailure``: what TFMA recorded, in its words."""
    key = failure.metric_key
    model = key.model_name or "candidate"
    which = f"{model}, change vs baseline" if key.is_diff else model
    text = f"{slice_name} slice: {key.name} ({which})"
    if failure.metric_value.HasField("double_value"):
        text += f" = {failure.metric_value.double_value.value:.4f}"
    threshold = text_format.MessageToString(failure.metric_threshold, as_one_line=True)
    if threshold:
        text += f" violates {threshold}"
    if failure.message.strip():
        text += f": {' '.join(failure.message.split())}"
    return text


def _overall_thresholds(eval_config: Any, candidate: str) -> tuple[str, Any, Any, Any] | None:
    """The first metric with a threshold on the overall slice, as TFMA applies it.

    Goes through TFMA's own config -> ``MetricKey`` mapping one metric config at a
    time, to keep the config's class name (``AUC``) next to the key (``auc``).

    Args:
        eval_config: The ``tfma.EvalConfig`` TFMA stored with its results.
        candidate: The candidate's model name in it (``""`` for a single model).

    Returns:
        ``(class name, value MetricKey, GenericValueThreshold or None,
        GenericChangeThreshold or None)``, or None if no threshold is on the
        overall slice.
    """
    import tensorflow_model_analysis as tfma

    overall = tfma.SlicingSpec()
    for spec in eval_config.metrics_specs:
        for metric_config in spec.metrics:
            single = tfma.MetricsSpec()
            single.CopyFrom(spec)
            del single.metrics[:]
            single.metrics.append(metric_config)
            thresholds = tfma.metrics.metric_thresholds_from_metrics_specs(
                [single], eval_config=eval_config
            )
            value_key = value_threshold = change_threshold = None
            for key, per_slice in thresholds.items():
                if key.model_name != candidate:
                    continue
                for slice_spec, threshold in per_slice:
                    if slice_spec is not None and slice_spec != overall:
                        continue
                    value_key = key._replace(is_diff=False)
                    if key.is_diff:
                        change_threshold = threshold
                    else:
                        value_threshold = threshold
            if value_key is not None:
                return metric_config.class_name, value_key, value_threshold, change_threshold
    return None


def _spec_name(spec: Any) -> str:
    """``device=*`` for ``feature_keys``, ``device=mobile`` for ``feature_values``."""
    parts = [f"{column}=*" for column in spec.feature_keys]
    parts += [f"{column}={value}" for column, value in sorted(spec.feature_values.items())]
    return ", ".join(parts) or "overall"


def _slice_checks(
    eval_config: Any,
    class_name: str,
    candidate: str,
    baseline: str | None,
    sliced_values: Mapping[tuple[Any, ...], Mapping[Any, float]],
    failures: Mapping[tuple[Any, ...], list[Any]],
) -> tuple[SliceCheck, ...]:
    """The checks of every threshold on a slice other than overall.

    Thresholds come from the eval config TFMA stored, matched to the slices TFMA
    computed with TFMA's own ``SingleSliceSpec.is_slice_applicable``; a check
    failed when TFMA recorded a failure with the same metric key and threshold
    on that slice.

    Args:
        eval_config: The ``tfma.EvalConfig`` TFMA stored with its results.
        class_name: The gate metric's class name (thresholds on other metrics
            are left out).
        candidate: The candidate's model name in it.
        baseline: The baseline's model name, None without a baseline.
        sliced_values: Slice key (as ``tfma.slicer.deserialize_slice_key``
            returns it) -> MetricKey -> value.
        failures: Slice key -> TFMA's ``ValidationFailure`` protos on it.

    Returns:
        The checks, by slice and then threshold spec.
    """
    import tensorflow_model_analysis as tfma

    overall = tfma.SlicingSpec()
    checks: list[SliceCheck] = []
    for spec in eval_config.metrics_specs:
        for metric_config in spec.metrics:
            if metric_config.class_name != class_name:
                continue
            single = tfma.MetricsSpec()
            single.CopyFrom(spec)
            del single.metrics[:]
            single.metrics.append(metric_config)
            thresholds = tfma.metrics.metric_thresholds_from_metrics_specs(
                [single], eval_config=eval_config
            )
            # Slicing spec -> (value key, [value thresholds], [change thresholds]).
            by_spec: dict[Any, tuple[Any, list[Any], list[Any]]] = {}
            for key, per_slice in thresholds.items():
                if key.model_name != candidate:
                    continue
                for slice_spec, threshold in per_slice:
                    if not isinstance(slice_spec, tfma.SlicingSpec) or slice_spec == overall:
                        continue
                    hashable = tfma.slicer.SingleSliceSpec(spec=slice_spec)
                    entry = by_spec.setdefault(
                        hashable, (key._replace(is_diff=False), [], [])
                    )
                    entry[2 if key.is_diff else 1].append((slice_spec, threshold))
            for slice_key in sorted(sliced_values, key=lambda k: [(c, str(v)) for c, v in k]):
                if not slice_key:
                    continue
                values = sliced_values[slice_key]
                for hashable, (key, value_thresholds, change_thresholds) in by_spec.items():
                    if not hashable.is_slice_applicable(slice_key):
                        continue
                    spec_proto = (value_thresholds or change_thresholds)[0][0]
                    pairs = itertools.zip_longest(value_thresholds, change_thresholds)
                    for value_entry, change_entry in pairs:
                        checks.append(
                            _slice_check(
                                slice_key, spec_proto, key, baseline, values,
                                None if value_entry is None else value_entry[1],
                                None if change_entry is None else change_entry[1],
                                failures.get(slice_key, []),
                            )
                        )
    return tuple(checks)


def _bound(threshold: Any, field: str) -> float | None:
    """A TFMA threshold's bound (``lower_bound``, ``upper_bound``, ``absolute``), if set.

    Args:
        threshold: A ``GenericValueThreshold`` or ``GenericChangeThreshold``, or None.
        field: The bound's field name.

    Returns:
        The bound's value, or None when there is no threshold or the field is unset.
    """
    if threshold is None or not threshold.HasField(field):
        return None
    return getattr(threshold, field).value


def _slice_check(
    slice_key: tuple[Any, ...],
    spec: Any,
    key: Any,
    baseline: str | None,
    values: Mapping[Any, float],
    value_threshold: Any,
    change_threshold: Any,
    failures: list[Any],
) -> SliceCheck:
    """One slice's check against one slicing spec's value and change thresholds."""
    import tensorflow_model_analysis as tfma

    def failed(checked: Any, field: str, threshold: Any) -> bool:
        return any(
            tfma.metrics.MetricKey.from_proto(failure.metric_key) == checked
            and getattr(failure.metric_threshold, field) == threshold
            for failure in failures
        )

    def verdict(threshold: Any, checked: Any, field: str) -> bool | None:
        return None if threshold is None else not failed(checked, field, threshold)

    diff_key = key.make_diff_key()
    count_key = key._replace(name="example_count", sub_key=None)
    return SliceCheck(
        slice=", ".join(f"{column}={value}" for column, value in slice_key),
        spec=_spec_name(spec),
        value=values.get(key),
        lower_bound=_bound(value_threshold, "lower_bound"),
        upper_bound=_bound(value_threshold, "upper_bound"),
        value_passed=verdict(value_threshold, key, "value_threshold"),
        baseline_value=(
            None if baseline is None else values.get(key.make_baseline_key(baseline))
        ),
        change=values.get(diff_key) if baseline is not None else None,
        allowed_change=_bound(change_threshold, "absolute"),
        higher_is_better=(
            getattr(change_threshold, "direction", None) != tfma.MetricDirection.LOWER_IS_BETTER
        ),
        change_passed=verdict(change_threshold, diff_key, "change_threshold"),
        example_count=values.get(count_key),
    )


def model_gate(evaluation_uri: str, blessed: bool | None) -> ModelGate | None:
    """Reads why the Evaluator did or did not bless the model, with TFMA's loaders.

    The gate metric is the first metric with a threshold on the overall slice in the
    eval config TFMA stored with its results; its thresholds are the ones TFMA
    applied (TFX drops the change threshold when there is no baseline). Values come
    from ``tfma.load_metrics``; verdicts from ``tfma.load_validation_result``. The
    same metric's thresholds on other slices (``evaluation.slice_thresholds``) become
    one :class:`SliceCheck` per slice TFMA computed and threshold spec matching it,
    judged by the failures TFMA recorded on that slice.

    Args:
        evaluation_uri: The Evaluator's ``evaluation`` artifact URI.
        blessed: Whether the Evaluator blessed the model (its ModelBlessing).

    Returns:
        The gate, or None if TFMA applied no threshold on the overall slice.
    """
    import tensorflow_model_analysis as tfma  # heavy; only needed when there are metrics

    eval_config = tfma.writers.eval_config_writer.load_eval_run(evaluation_uri)[0]
    candidate = next((m.name for m in eval_config.model_specs if not m.is_baseline), "")
    baseline = next((m.name for m in eval_config.model_specs if m.is_baseline), None)

    found = _overall_thresholds(eval_config, candidate)
    if found is None:
        return None
    class_name, key, value_threshold, change_threshold = found

    sliced_values: dict[tuple[Any, ...], dict[Any, float]] = {}
    for slice_metrics in tfma.load_metrics(evaluation_uri):
        slice_values = sliced_values.setdefault(
            tfma.slicer.deserialize_slice_key(slice_metrics.slice_key), {}
        )
        for kv in slice_metrics.metric_keys_and_values:
            if kv.value.HasField("double_value"):
                slice_values[tfma.metrics.MetricKey.from_proto(kv.key)] = (
                    kv.value.double_value.value
                )
    values = sliced_values.get((), {})
    diff_key = key.make_diff_key()

    result = tfma.load_validation_result(evaluation_uri)
    failed: set[Any] = set()
    failures: list[str] = []
    slice_failures: dict[tuple[Any, ...], list[Any]] = {}
    for per_slice in result.metric_validations_per_slice:
        cross = per_slice.HasField("cross_slice_key")
        name = "cross" if cross else _slice_name(per_slice.slice_key)
        overall = name == "overall"
        if not cross and not overall:
            slice_failures.setdefault(
                tfma.slicer.deserialize_slice_key(per_slice.slice_key), []
            ).extend(per_slice.failures)
        for failure in per_slice.failures:
            if overall:
                failed.add(tfma.metrics.MetricKey.from_proto(failure.metric_key))
            failures.append(_describe_failure(failure, name))
    slice_checks = _slice_checks(
        eval_config, class_name, candidate, baseline, sliced_values, slice_failures
    )
    for spec in result.missing_slices:
        spec_text = text_format.MessageToString(spec, as_one_line=True) or "{} (overall)"
        failures.append(f"no slice matched the slicing spec {spec_text} of a threshold")

    def verdict(threshold: Any, checked: Any) -> bool | None:
        return None if threshold is None else checked not in failed

    change_direction = getattr(change_threshold, "direction", None)
    return ModelGate(
        metric=class_name or key.name,
        metric_key=key.name,
        value=values.get(key),
        lower_bound=_bound(value_threshold, "lower_bound"),
        upper_bound=_bound(value_threshold, "upper_bound"),
        value_passed=verdict(value_threshold, key),
        baseline_value=(
            None if baseline is None else values.get(key.make_baseline_key(baseline))
        ),
        change=values.get(diff_key) if baseline is not None else None,
        allowed_change=_bound(change_threshold, "absolute"),
        higher_is_better=change_direction != tfma.MetricDirection.LOWER_IS_BETTER,
        change_passed=verdict(change_threshold, diff_key),
        blessed=blessed,
        failures=tuple(failures),
        slices=slice_checks,
    )


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
    gate: ModelGate | None = None
    pushed = False
    evaluator = by_node.get(EVALUATOR)
    if evaluator is not None:
        evaluation = _output_artifacts(store, evaluator.id, "evaluation")
        if evaluation:
            metrics = overall_metrics(evaluation[0].uri)
        blessing = _output_artifacts(store, evaluator.id, "blessing")
        if blessing:
            blessed = _custom(blessing[0], "blessed") == 1
        if evaluation and evaluator.last_known_state in _DONE:
            gate = model_gate(evaluation[0].uri, blessed)
        baseline = _output_artifacts(store, evaluator.id, "baseline_model", input_side=True)
        baseline_uri = baseline[0].uri if baseline else None
        model = _output_artifacts(store, evaluator.id, "model", input_side=True)
        model_uri = model[0].uri if model else None
    gate_report = ""
    data_gate = by_node.get(DATA_GATE)
    if data_gate is not None:
        reports = _output_artifacts(store, data_gate.id, "report_artifact")
        if reports:
            gate_report = _read_text(os.path.join(reports[0].uri, GATE_REPORT_FILE))
    warm_start, model_run_uri = "", None
    trainer = by_node.get(TRAINER)
    if trainer is not None and trainer.last_known_state in _DONE:
        model_run = _output_artifacts(store, trainer.id, "model_run")
        if model_run:
            model_run_uri = model_run[0].uri
            decision = _read_text(os.path.join(model_run_uri, WARM_START_FILE))
            warm_start = json.loads(decision)["reason"] if decision else ""
    pusher = by_node.get(PUSHER)
    pushed_model: list[metadata_store_pb2.Artifact] = []
    if pusher is not None and pusher.last_known_state == metadata_store_pb2.Execution.COMPLETE:
        pushed_model = _output_artifacts(store, pusher.id, "pushed_model")
        if pushed_model and _custom(pushed_model[0], "pushed") == 1:
            pushed = True
            destination = str(_custom(pushed_model[0], "pushed_destination"))
    tflite = _tflite_export(store, by_node.get(TFLITE_CONVERTER), pushed_model)
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
        model_gate=gate,
        warm_start=warm_start,
        model_run_uri=model_run_uri,
        tflite=tflite,
    )


def _tflite_export(
    store: mlmd.MetadataStore,
    converter: metadata_store_pb2.Execution | None,
    pushed_model: list[metadata_store_pb2.Artifact],
) -> TFLiteExport | None:
    """The converter's TFLiteModel and the Pusher's record of it (this run's Pusher)."""
    if converter is None or converter.last_known_state not in _DONE:
        return None
    outputs = _output_artifacts(store, converter.id, "tflite_model")
    if not outputs:
        return None
    artifact = outputs[0]

    def number(key: str) -> float | None:
        value = _custom(artifact, key)
        return None if value is None else float(value)

    pushed: bool | None = None
    push_reason = ""
    if pushed_model and "tflite_pushed" in pushed_model[0].custom_properties:
        pushed = _custom(pushed_model[0], "tflite_pushed") == 1
        push_reason = str(_custom(pushed_model[0], "tflite_reason") or "")
    metric = _custom(artifact, "metric")
    return TFLiteExport(
        within_bound=_custom(artifact, "within_bound") == 1,
        reason=str(_custom(artifact, "reason") or ""),
        size_bytes=int(_custom(artifact, "size_bytes") or 0),
        float_size_bytes=int(_custom(artifact, "float_size_bytes") or 0),
        quantized_weights=int(_custom(artifact, "quantized_weights") or 0),
        metric=None if metric is None else str(metric),
        float_value=number("float_value"),
        tflite_value=number("tflite_value"),
        delta=number("delta"),
        max_delta=number("max_delta"),
        pushed=pushed,
        push_reason=push_reason,
    )
