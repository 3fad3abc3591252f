"""Run history and run diffs, read from ML Metadata.

``list_runs`` answers "what did the pipeline do lately, and why did a run stop?";
``diff_runs`` answers "what changed between these two runs?" (data, schema, code,
config, metrics). Both read only MLMD (contexts, executions, events, artifacts) and
the artifacts MLMD points at, so they work the same for LocalDagRunner and Airflow
runs and for SQLite and MySQL stores. :mod:`pipeline.views.runs` renders them as text.

MLMD layout (see :mod:`pipeline.run.launch`): every execution is attributed to a
``pipeline`` context (the pipeline name), a ``pipeline_run`` context (the run id)
and a ``node`` context (``<pipeline>.<node id>``). A cache hit is its own execution
in state CACHED whose events point at the reused artifacts, so a cached run's
inputs and outputs are read exactly like those of a run that executed.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import ml_metadata as mlmd

from pipeline.mlmd import queries
from pipeline.mlmd.queries import Artifact, Event, Execution
from pipeline.nodes import (
    DATA_GATE,
    EVALUATOR,
    EXAMPLE_GEN,
    EXAMPLE_VALIDATOR,
    PUSHER,
    SCHEMA_GEN,
    TRAINER,
    TRANSFORM,
    execution_order,
)
from pipeline.ops.lineage import PUSHED_MODEL_KEY, ROLLBACK_OF, labels_of
from pipeline.ops.model_gate import overall_metrics
from pipeline.run.guards import run_owner

# The local runner's backfill names its validation-only runs "<timestamp>-validate-<span>"
# (pipeline.run.launch.validate_span).
VALIDATION_MARKER = "-validate-"

# TFX keeps an executor's ExecutionResult (code and message) as this custom property
# (tfx.orchestration.portable.mlmd.execution_lib._EXECUTION_RESULT), but only when the
# executor *returned* a non-zero code; an exception raised by an in-process executor
# (e.g. the DataGate's DataGateError) is recorded as state FAILED and nothing else.
EXECUTION_RESULT_PROPERTY = "__execution_result__"

SCHEMA_FILE = "schema.pbtxt"

# How many characters of a failure message fit the one-line reason.
_REASON_CHARS = 300

# Metric values closer than this are "the same" (TFMA floats round-trip exactly, but
# a recomputation on the same data may differ in the last bits).
_METRIC_TOLERANCE = 1e-9


@dataclasses.dataclass(frozen=True)
class RunRecord:
    """One pipeline run, as ML Metadata recorded it.

    Attributes:
        run_id: The ``pipeline_run`` context name (a local ISO timestamp, an Airflow
            run id, or ``<timestamp>-validate-<span>`` for a backfill run).
        kind: ``run``, ``validation`` for a validation-only backfill run, or
            ``promote``/``rollback`` for a move of TF Serving's ``stable`` label.
        started: UTC ISO time of the run's earliest execution.
        duration_seconds: From the earliest execution's creation to the latest
            execution update.
        status: ``succeeded``, ``failed`` (some execution FAILED or was canceled),
            ``interrupted`` (stopped by Ctrl-C), ``abandoned`` (its process died,
            e.g. SIGKILL, while a step ran; see :mod:`pipeline.run.guards.run_owner`) or
            ``running`` (some execution is still NEW/RUNNING: in progress, or a
            process without an owner record died before TFX could record it).
        spans: The spans the run trained on (Transform's input examples), or for a
            run without Transform the span ExampleGen ingested.
        blessed: The Evaluator's blessing (None when it did not evaluate).
        pushed_version: The model version the Pusher pushed in this run, if any.
        labels: The TF Serving labels ``pushed_version`` holds now (``stable``,
            ``canary``); empty when it holds none or none was pushed.
        stopped_by: Why the run did not (or would not) ship a model: ``data gate``,
            ``model gate``, ``error in <node>``, ``interrupted in <node>``,
            ``abandoned in <node>``; None if nothing stopped it.
        reason: One line on the stop, when MLMD recorded one (else None).
    """

    run_id: str
    kind: str
    started: str
    duration_seconds: float
    status: str
    spans: tuple[int, ...]
    blessed: bool | None
    pushed_version: str | None
    stopped_by: str | None
    reason: str | None = None
    labels: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class ExamplesRef:
    """An Examples artifact a run used.

    Attributes:
        artifact_id: The MLMD artifact id.
        span: Its ``span`` custom property.
        version: Its ``version`` custom property (set by ExampleGen only when the
            input pattern has a ``{VERSION}`` spec; None otherwise).
        uri: Where the examples are.
    """

    artifact_id: int
    span: int
    version: int | None
    uri: str


@dataclasses.dataclass(frozen=True)
class Change:
    """One value that differs between two runs.

    Attributes:
        key: Dotted name (e.g. ``trainer.hyperparameters.learning_rate``, ``auc``).
        a: The value in the first run (None: absent there).
        b: The value in the second run (None: absent there).
    """

    key: str
    a: Any
    b: Any


@dataclasses.dataclass(frozen=True)
class RunDiff:
    """What differs between two runs of a pipeline.

    Attributes:
        pipeline_name: The pipeline.
        run_a: The first run id.
        run_b: The second run id.
        spans_a: Spans the first run trained on (see :attr:`RunRecord.spans`).
        spans_b: Spans the second run trained on.
        spans_added: In ``b`` but not in ``a``.
        spans_removed: In ``a`` but not in ``b``.
        examples_a: The Examples artifacts behind ``spans_a``.
        examples_b: The Examples artifacts behind ``spans_b``.
        schema_uri_a: The schema artifact the first run used (None: no schema).
        schema_uri_b: The schema artifact the second run used.
        schema_diff: Unified diff of the two schema files ("" when the text is the
            same, even if the artifacts differ).
        code_version_a: ``code_version`` the first run's Transform/Trainer recorded.
        code_version_b: The same for the second run.
        config_changes: Trainer/Transform ``custom_config`` (without the code
            version), Trainer ``train_args``/``eval_args`` and the Evaluator's
            ``eval_config`` values that differ.
        metrics_a: Overall-slice metrics of the first run's evaluation.
        metrics_b: Overall-slice metrics of the second run's evaluation.
        metric_changes: Metrics whose values differ.
    """

    pipeline_name: str
    run_a: str
    run_b: str
    spans_a: tuple[int, ...]
    spans_b: tuple[int, ...]
    spans_added: tuple[int, ...]
    spans_removed: tuple[int, ...]
    examples_a: tuple[ExamplesRef, ...]
    examples_b: tuple[ExamplesRef, ...]
    schema_uri_a: str | None
    schema_uri_b: str | None
    schema_diff: str
    code_version_a: str | None
    code_version_b: str | None
    config_changes: tuple[Change, ...]
    metrics_a: Mapping[str, float]
    metrics_b: Mapping[str, float]
    metric_changes: tuple[Change, ...]

    @property
    def same_data(self) -> bool:
        """Whether both runs used the same Examples artifacts."""
        return [e.artifact_id for e in self.examples_a] == [e.artifact_id for e in self.examples_b]

    @property
    def same_schema(self) -> bool:
        """Whether both runs used the same schema text."""
        return not self.schema_diff

    @property
    def same_code(self) -> bool:
        """Whether both runs recorded the same code version."""
        return self.code_version_a == self.code_version_b

    @property
    def same_config(self) -> bool:
        """Whether the compared configuration is the same."""
        return not self.config_changes


# --------------------------------------------------------------------------- reading


def _examples(store: mlmd.MetadataStore, run: queries.Run) -> list[Artifact]:
    """The Examples the run trained on, or for a run without Transform, ingested."""
    transform = run.by_node.get(TRANSFORM)
    if transform is not None:
        found = queries.artifacts(store, transform.id, "examples", Event.INPUT)
        if found:
            return found
    example_gen = run.by_node.get(EXAMPLE_GEN)
    if example_gen is not None:
        return queries.artifacts(store, example_gen.id, "examples")
    return []


def _one_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    line = " ".join(lines)
    return line if len(line) <= _REASON_CHARS else line[: _REASON_CHARS - 3] + "..."


def failure_message(execution: Execution) -> str | None:
    """Returns the failure message TFX recorded on an execution, if it kept one.

    Args:
        execution: An MLMD execution.

    Returns:
        The ``ExecutionResult.result_message`` TFX stored in the execution's
        ``__execution_result__`` custom property, on one line; None when there is
        none (TFX stores it only when an executor returns an error code, not when it
        raises, which is how the DataGate rejects a span).
    """
    raw = queries.custom(execution, EXECUTION_RESULT_PROPERTY)
    if not isinstance(raw, str):
        return None
    try:
        message = json.loads(raw).get("resultMessage", "")
    except (ValueError, AttributeError):  # not the JSON TFX writes; show it as is
        message = raw
    return _one_line(message) or None


def _blocking_hint(gate: Execution) -> str | None:
    """The features that blocked a span, as the runner recorded them on the gate.

    A rejected span leaves no message in MLMD (the DataGate raises, so TFX records
    no ExecutionResult, publishes no outputs and deletes the report it wrote); the
    runner writes the gate error's blocking features to the failed execution
    (:func:`pipeline.run.launch.record_gate_rejection`).
    """
    recorded = queries.json_property(gate, queries.GATE_BLOCKING_PROPERTY)
    if not isinstance(recorded, dict) or not recorded:
        return None
    return "blocked by " + ", ".join(
        f"{feature} ({kinds})" for feature, kinds in sorted(recorded.items())
    )


def _anomaly_hint(store: mlmd.MetadataStore, run: queries.Run) -> str | None:
    """Which splits ExampleValidator flagged, when the gate's own record is missing.

    A run killed before the runner recorded the gate's blocking features keeps only
    ExampleValidator's anomalies artifact, whose per-split ``blessed`` flag tells
    which splits had schema anomalies.
    """
    validator = run.by_node.get(EXAMPLE_VALIDATOR)
    if validator is None:
        return None
    for artifact in queries.artifacts(store, validator.id, "anomalies"):
        per_split = queries.custom(artifact, "blessed")
        if not isinstance(per_split, dict):
            continue
        flagged = sorted(split for split, value in per_split.items() if value == 0)
        if flagged:
            return (
                f"ExampleValidator flagged schema anomalies in {', '.join(flagged)} "
                "(the gate's own message is not kept in ML Metadata)"
            )
    return None


def _node_order(run: queries.Run) -> list[str]:
    return execution_order(run.by_node, lambda node: run.by_node[node].id)


def _ended_early(run: queries.Run) -> tuple[str, str, str] | None:
    """Status, "stopped by" and reason of a run that was killed or interrupted.

    ``interrupted``: a Ctrl-C, recorded by the run itself. ``abandoned``: its process
    died (SIGKILL, OOM, power cut) with executions unfinished, whether a later run
    already marked them CANCELED (``run_owner.reconcile``) or not yet.
    """
    order = _node_order(run)
    for key, status in ((run_owner.INTERRUPTED, "interrupted"), (run_owner.ABANDONED, "abandoned")):
        for node in order:
            reason = queries.custom(run.by_node[node], key)
            if reason is not None:
                return status, f"{status} in {node}", _one_line(str(reason))
    unfinished = [n for n in order if run.by_node[n].last_known_state in queries.UNFINISHED]
    if unfinished and run_owner.owner_alive(run.context) is False:
        return (
            "abandoned",
            f"abandoned in {unfinished[0]}",
            f"its process ended (killed?) while {unfinished[0]} ran; the next run marks "
            "it canceled",
        )
    return None


def _status(run: queries.Run) -> str:
    states = {e.last_known_state for e in run.executions}
    if states & {Execution.FAILED, Execution.CANCELED}:
        return "failed"
    if states & set(queries.UNFINISHED):
        return "running"
    return "succeeded"


def _blessed(store: mlmd.MetadataStore, run: queries.Run) -> bool | None:
    evaluator = run.by_node.get(EVALUATOR)
    if evaluator is None or evaluator.last_known_state not in queries.DONE:
        return None
    blessing = queries.artifact(store, evaluator, "blessing")
    return None if blessing is None else queries.custom(blessing, "blessed") == 1


def _pushed_version(store: mlmd.MetadataStore, run: queries.Run) -> str | None:
    pusher = run.by_node.get(PUSHER)
    # Only a Pusher that executed pushed in this run; a cache hit reuses an old push
    # (the same rule as RunSummary.pushed).
    if pusher is None or pusher.last_known_state != Execution.COMPLETE:
        return None
    pushed = queries.artifact(store, pusher, "pushed_model")
    if pushed is None or queries.custom(pushed, "pushed") != 1:
        return None
    version = queries.custom(pushed, "pushed_version")
    return None if version is None else str(version)


def _string_property(execution: Execution, name: str) -> str:
    return execution.properties[name].string_value if name in execution.properties else ""


def _label_change_record(
    store: mlmd.MetadataStore, run: queries.Run, type_name: str, change: Execution
) -> RunRecord:
    # An earlier release's rollback republished a version as a new one (a PushedModel
    # output); a label change now only moves a label.
    pushed = queries.artifact(store, change, PUSHED_MODEL_KEY)
    if pushed is not None:
        version: str | None = str(queries.custom(pushed, "pushed_version"))
        reason = f"republished version {queries.custom(pushed, ROLLBACK_OF)}"
    else:
        version = None
        label = _string_property(change, "label") or "stable"
        reason = (
            f"moved {label} from version {_string_property(change, 'from_version') or 'none'} "
            f"to {_string_property(change, 'to_version')}"
        )
    return RunRecord(
        run_id=run.run_id,
        kind=type_name.lower(),
        started=queries.utc(run.start_ms),
        duration_seconds=round(max(run.end_ms - run.start_ms, 0) / 1000.0, 3),
        status=_status(run),
        spans=(),
        blessed=None,
        pushed_version=version,
        stopped_by=None,
        reason=reason,
    )


def _record(store: mlmd.MetadataStore, run: queries.Run) -> RunRecord:
    for type_name in queries.LABEL_CHANGE_TYPES:
        change = run.by_node.get(type_name)
        if change is not None:
            return _label_change_record(store, run, type_name, change)
    status = _status(run)
    blessed = _blessed(store, run)
    stopped_by = reason = None
    order = _node_order(run)
    failed = [n for n in order if run.by_node[n].last_known_state == Execution.FAILED]
    ended_early = _ended_early(run)
    if ended_early is not None:
        status, stopped_by, reason = ended_early
    elif DATA_GATE in failed:
        stopped_by = "data gate"
        gate = run.by_node[DATA_GATE]
        reason = failure_message(gate) or _blocking_hint(gate) or _anomaly_hint(store, run)
    elif failed:
        stopped_by = f"error in {failed[0]}"
        reason = failure_message(run.by_node[failed[0]])
    elif blessed is False:
        stopped_by = "model gate"

    return RunRecord(
        run_id=run.run_id,
        kind="validation" if VALIDATION_MARKER in run.run_id else "run",
        started=queries.utc(run.start_ms),
        duration_seconds=round(max(run.end_ms - run.start_ms, 0) / 1000.0, 3),
        status=status,
        spans=queries.spans(_examples(store, run)),
        blessed=blessed,
        pushed_version=_pushed_version(store, run),
        stopped_by=stopped_by,
        reason=reason,
    )


def list_runs(
    store: mlmd.MetadataStore,
    pipeline_name: str,
    labels: Mapping[str, str] | None = None,
    runs: Sequence[queries.Run] | None = None,
) -> list[RunRecord]:
    """Lists a pipeline's runs, newest first.

    Args:
        store: The metadata store.
        pipeline_name: The pipeline (its ``pipeline`` context name).
        labels: TF Serving's labels now, label -> version
            (:func:`pipeline.ops.lineage.current_labels`), to show which pushed
            version holds which; None leaves every record's ``labels`` empty.
        runs: The pipeline's runs when the caller has read them already
            (:func:`pipeline.mlmd.queries.runs`); None reads them.

    Returns:
        One record per ``pipeline_run`` with executions of this pipeline, newest
        (by earliest execution) first; empty if the pipeline never ran.
    """
    if runs is None:
        runs = queries.runs(store, pipeline_name)
    records = [_record(store, run) for run in runs]
    if not labels:
        return records
    return [
        dataclasses.replace(r, labels=labels_of(labels, r.pushed_version))
        if r.pushed_version is not None
        else r
        for r in records
    ]


# ----------------------------------------------------------------------------- diff


def _flatten(prefix: str, value: Any, into: dict[str, Any]) -> None:
    # Dicts become dotted keys so a diff names the one hyperparameter that changed;
    # lists stay whole (compact JSON) because their positions carry no names.
    if isinstance(value, Mapping):
        for key, item in value.items():
            _flatten(f"{prefix}.{key}", item, into)
    elif isinstance(value, list):
        into[prefix] = json.dumps(value, sort_keys=True, separators=(",", ":"))
    else:
        into[prefix] = value


def run_config(store: mlmd.MetadataStore, pipeline_name: str, run_id: str) -> dict[str, Any]:
    """Returns the configuration a run's Transform, Trainer and Evaluator recorded.

    Args:
        store: The metadata store.
        pipeline_name: The pipeline.
        run_id: The run id.

    Returns:
        Dotted key -> value (e.g. ``trainer.hyperparameters.learning_rate``); the
        code version is left out (see :func:`code_version`).

    Raises:
        LookupError: If the run is not in the store.
    """
    return _config(queries.run(store, pipeline_name, run_id))


def _config(run: queries.Run) -> dict[str, Any]:
    config: dict[str, Any] = {}
    for node, names in (
        (TRANSFORM, ("custom_config",)),
        (TRAINER, ("custom_config", "train_args", "eval_args")),
        (EVALUATOR, ("eval_config",)),
    ):
        for name in names:
            value = queries.json_property(run.by_node.get(node), name)
            if value is None:
                continue
            if isinstance(value, dict):
                value = {k: v for k, v in value.items() if k != "code_version"}
            _flatten(f"{node.lower()}.{name}", value, config)
    return config


def _code_version(run: queries.Run) -> str | None:
    for node in (TRAINER, TRANSFORM):
        config = queries.json_property(run.by_node.get(node), "custom_config")
        if isinstance(config, dict) and config.get("code_version"):
            return str(config["code_version"])
    return None


def _schema(store: mlmd.MetadataStore, run: queries.Run) -> Artifact | None:
    # The schema the run's Transform used; else the one ImportSchemaGen produced.
    for node, kind in ((TRANSFORM, Event.INPUT), (SCHEMA_GEN, Event.OUTPUT)):
        found = queries.artifact(store, run.by_node.get(node), "schema", kind)
        if found is not None:
            return found
    return None


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except OSError:  # an artifact garbage-collected or on another machine
        return ""


def _schema_diff(a: Artifact | None, b: Artifact | None) -> str:
    if a is None and b is None:
        return ""
    if a is not None and b is not None and a.id == b.id:
        return ""
    text_a = _read(os.path.join(a.uri, SCHEMA_FILE)) if a is not None else ""
    text_b = _read(os.path.join(b.uri, SCHEMA_FILE)) if b is not None else ""
    return "".join(
        difflib.unified_diff(
            text_a.splitlines(keepends=True),
            text_b.splitlines(keepends=True),
            fromfile=a.uri if a is not None else "(no schema)",
            tofile=b.uri if b is not None else "(no schema)",
        )
    )


def _metrics(store: mlmd.MetadataStore, run: queries.Run) -> dict[str, float]:
    evaluator = run.by_node.get(EVALUATOR)
    if evaluator is None or evaluator.last_known_state not in queries.DONE:
        return {}
    evaluation = queries.artifact(store, evaluator, "evaluation")
    return overall_metrics(evaluation.uri) if evaluation is not None else {}


def _changes(
    a: Mapping[str, Any], b: Mapping[str, Any], numeric: bool = False
) -> tuple[Change, ...]:
    changes = []
    for key in sorted(set(a) | set(b)):
        va, vb = a.get(key), b.get(key)
        if numeric and va is not None and vb is not None:
            if abs(float(va) - float(vb)) <= _METRIC_TOLERANCE:
                continue
        elif va == vb:
            continue
        changes.append(Change(key, va, vb))
    return tuple(changes)


def _examples_refs(artifacts: Iterable[Artifact]) -> tuple[ExamplesRef, ...]:
    refs = []
    for artifact in artifacts:
        version = queries.custom(artifact, "version")
        refs.append(
            ExamplesRef(
                artifact_id=artifact.id,
                span=queries.span(artifact) or 0,
                version=None if version is None else int(version),
                uri=artifact.uri,
            )
        )
    return tuple(sorted(refs, key=lambda r: (r.span, r.artifact_id)))


def diff_runs(store: mlmd.MetadataStore, pipeline_name: str, run_a: str, run_b: str) -> RunDiff:
    """Compares two runs: data, schema, code version, configuration and metrics.

    Args:
        store: The metadata store.
        pipeline_name: The pipeline.
        run_a: The first (usually older) run id.
        run_b: The second run id.

    Returns:
        The differences (``b`` relative to ``a``).

    Raises:
        LookupError: Naming a run id that is not a run of the pipeline.
    """
    a = queries.run(store, pipeline_name, run_a)
    b = queries.run(store, pipeline_name, run_b)
    examples_a = _examples_refs(_examples(store, a))
    examples_b = _examples_refs(_examples(store, b))
    spans_a = tuple(sorted({e.span for e in examples_a}))
    spans_b = tuple(sorted({e.span for e in examples_b}))
    schema_a, schema_b = _schema(store, a), _schema(store, b)
    metrics_a, metrics_b = _metrics(store, a), _metrics(store, b)
    return RunDiff(
        pipeline_name=pipeline_name,
        run_a=run_a,
        run_b=run_b,
        spans_a=spans_a,
        spans_b=spans_b,
        spans_added=tuple(s for s in spans_b if s not in spans_a),
        spans_removed=tuple(s for s in spans_a if s not in spans_b),
        examples_a=examples_a,
        examples_b=examples_b,
        schema_uri_a=schema_a.uri if schema_a is not None else None,
        schema_uri_b=schema_b.uri if schema_b is not None else None,
        schema_diff=_schema_diff(schema_a, schema_b),
        code_version_a=_code_version(a),
        code_version_b=_code_version(b),
        config_changes=_changes(_config(a), _config(b)),
        metrics_a=metrics_a,
        metrics_b=metrics_b,
        metric_changes=_changes(metrics_a, metrics_b, numeric=True),
    )
