"""Run history and run diffs, read from ML Metadata.

``list_runs`` answers "what did the pipeline do lately, and why did a run stop?";
``diff_runs`` answers "what changed between these two runs?" (data, schema, code,
config, metrics). Both read only MLMD (contexts, executions, events, artifacts) and
the artifacts MLMD points at, so they work the same for LocalDagRunner and Airflow
runs and for SQLite and MySQL stores.

MLMD layout (see :mod:`pipeline.run.launch`): every execution is attributed to a
``pipeline`` context (the pipeline name), a ``pipeline_run`` context (the run id)
and a ``node`` context (``<pipeline>.<node id>``). A cache hit is its own execution
in state CACHED whose events point at the reused artifacts, so a cached run's
inputs and outputs are read exactly like those of a run that executed.
"""

from __future__ import annotations

import dataclasses
import datetime
import difflib
import json
import os
from typing import Any, Iterable, Mapping

import ml_metadata as mlmd
from ml_metadata.proto import metadata_store_pb2

# to_json is shared with lineage (one serialisation for every --json output).
from pipeline.ops.lineage import PUSHED_MODEL_KEY, ROLLBACK_OF, ROLLBACK_TYPE, to_json  # noqa: F401

from pipeline.run.guards import run_owner
from pipeline.nodes import (
    DATA_GATE,
    EVALUATOR,
    EXAMPLE_GEN,
    EXAMPLE_VALIDATOR,
    PUSHER,
    SCHEMA_GEN,
    TRAINER,
    TRANSFORM,
    UPSTREAM,
)
from pipeline.ops.summary import (
    NODE_CONTEXT,
    PIPELINE_CONTEXT,
    RUN_CONTEXT,
    _custom,
    _output_artifacts,
    overall_metrics,
)

Execution = metadata_store_pb2.Execution

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

_FAILED = (Execution.FAILED,)
_UNFINISHED = (Execution.NEW, Execution.RUNNING)
_DONE = (Execution.COMPLETE, Execution.CACHED)


@dataclasses.dataclass(frozen=True)
class RunRecord:
    """One pipeline run, as ML Metadata recorded it.

    Attributes:
        run_id: The ``pipeline_run`` context name (a local ISO timestamp, an Airflow
            run id, or ``<timestamp>-validate-<span>`` for a backfill run).
        kind: ``run``, or ``validation`` for a validation-only backfill run.
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


@dataclasses.dataclass(frozen=True)
class _Run:
    """A run's executions of one pipeline, by node id (the last one wins)."""

    run_id: str
    executions: tuple[Execution, ...]
    by_node: Mapping[str, Execution]
    # Whether the run's owner process lives (pipeline.run.guards.run_owner); None: can't tell.
    owner_alive: bool | None = None


def _pipeline_node_ids(store: mlmd.MetadataStore, pipeline_name: str) -> dict[int, str]:
    """Maps execution id -> node id for every execution of the pipeline.

    Rollbacks (``python -m pipeline rollback``) are no TFX node: they are recorded
    in the pipeline context only, and listed under the node id ``Rollback``.
    """
    prefix = f"{pipeline_name}."
    node_of: dict[int, str] = {}
    for context in store.get_contexts_by_type(NODE_CONTEXT):
        if not context.name.startswith(prefix):
            continue
        node_id = context.name[len(prefix):]
        for execution in store.get_executions_by_context(context.id):
            node_of[execution.id] = node_id
    pipeline = store.get_context_by_type_and_name(PIPELINE_CONTEXT, pipeline_name)
    rollback_types = {t.id for t in store.get_execution_types() if t.name == ROLLBACK_TYPE}
    if pipeline is not None and rollback_types:
        for execution in store.get_executions_by_context(pipeline.id):
            if execution.type_id in rollback_types:
                node_of[execution.id] = ROLLBACK_TYPE
    return node_of


def _runs(
    store: mlmd.MetadataStore, pipeline_name: str, run_ids: Iterable[str] | None = None
) -> list[_Run]:
    """Reads the pipeline's runs (or only ``run_ids``), with their executions.

    A ``pipeline_run`` context is named by the run id alone, so two pipelines (two
    Airflow DAGs with the same schedule, say) share one context per run id; keeping
    only executions of this pipeline's node contexts separates them.
    """
    if store.get_context_by_type_and_name(PIPELINE_CONTEXT, pipeline_name) is None:
        return []
    node_of = _pipeline_node_ids(store, pipeline_name)
    if run_ids is None:
        contexts = store.get_contexts_by_type(RUN_CONTEXT)
    else:
        contexts = [
            c for c in (store.get_context_by_type_and_name(RUN_CONTEXT, r) for r in run_ids) if c
        ]
    runs = []
    for context in contexts:
        executions = tuple(
            e for e in store.get_executions_by_context(context.id) if e.id in node_of
        )
        if not executions:
            continue  # another pipeline's run
        by_node: dict[str, Execution] = {}
        # Ordered by id, so a node launched twice in one run (an Airflow task retry)
        # is represented by its last attempt.
        for execution in sorted(executions, key=lambda e: e.id):
            by_node[node_of[execution.id]] = execution
        runs.append(_Run(context.name, executions, by_node, run_owner.owner_alive(context)))
    return runs


def _run(store: mlmd.MetadataStore, pipeline_name: str, run_id: str) -> _Run:
    found = _runs(store, pipeline_name, [run_id])
    if not found:
        raise LookupError(f"no run {run_id!r} of pipeline {pipeline_name!r} in ML Metadata")
    return found[0]


def _examples(store: mlmd.MetadataStore, run: _Run) -> list[metadata_store_pb2.Artifact]:
    """The Examples the run trained on, or for a run without Transform, ingested."""
    transform = run.by_node.get(TRANSFORM)
    if transform is not None:
        found = _output_artifacts(store, transform.id, "examples", input_side=True)
        if found:
            return found
    example_gen = run.by_node.get(EXAMPLE_GEN)
    if example_gen is not None:
        return _output_artifacts(store, example_gen.id, "examples")
    return []


def _spans(artifacts: Iterable[metadata_store_pb2.Artifact]) -> tuple[int, ...]:
    return tuple(
        sorted({int(_custom(a, "span") or 0) for a in artifacts if "span" in a.custom_properties})
    )


def _utc(milliseconds: int) -> str:
    return (
        datetime.datetime.fromtimestamp(milliseconds / 1000.0, tz=datetime.timezone.utc)
        .isoformat(timespec="seconds")
    )


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
    if EXECUTION_RESULT_PROPERTY not in execution.custom_properties:
        return None
    raw = execution.custom_properties[EXECUTION_RESULT_PROPERTY].string_value
    try:
        message = json.loads(raw).get("resultMessage", "")
    except (ValueError, AttributeError):  # not the JSON TFX writes; show it as is
        message = raw
    return _one_line(message) or None


def _anomaly_hint(store: mlmd.MetadataStore, run: _Run) -> str | None:
    """Which splits ExampleValidator flagged, the only gate evidence MLMD keeps.

    A rejected span leaves no message in MLMD (the DataGate raises, so TFX records
    no ExecutionResult, publishes no outputs and deletes the report it wrote), but
    ExampleValidator's anomalies artifact carries a per-split ``blessed`` flag.
    """
    validator = run.by_node.get(EXAMPLE_VALIDATOR)
    if validator is None:
        return None
    for artifact in _output_artifacts(store, validator.id, "anomalies"):
        if "blessed" not in artifact.custom_properties:
            continue
        fields = artifact.custom_properties["blessed"].struct_value.fields
        flagged = sorted(split for split, value in fields.items() if value.number_value == 0)
        if flagged:
            return (
                f"ExampleValidator flagged schema anomalies in {', '.join(flagged)} "
                "(the gate's own message is not kept in ML Metadata)"
            )
    return None


def _node_order(by_node: Mapping[str, Execution]) -> list[str]:
    # Pipeline order for the known nodes, then any others (e.g. serving nodes) by id.
    known = [node for node in UPSTREAM if node in by_node]
    rest = sorted((n for n in by_node if n not in UPSTREAM), key=lambda n: by_node[n].id)
    return known + rest


def _ended_early(run: _Run) -> tuple[str, str, str] | None:
    """Status, "stopped by" and reason of a run that was killed or interrupted.

    ``interrupted``: a Ctrl-C, recorded by the run itself. ``abandoned``: its process
    died (SIGKILL, OOM, power cut) with executions unfinished, whether a later run
    already marked them CANCELED (``run_owner.reconcile``) or not yet.
    """
    order = _node_order(run.by_node)
    for key, status in ((run_owner.INTERRUPTED, "interrupted"), (run_owner.ABANDONED, "abandoned")):
        for node in order:
            execution = run.by_node[node]
            if key in execution.custom_properties:
                reason = execution.custom_properties[key].string_value
                return status, f"{status} in {node}", _one_line(reason)
    unfinished = [n for n in order if run.by_node[n].last_known_state in _UNFINISHED]
    if unfinished and run.owner_alive is False:
        return (
            "abandoned",
            f"abandoned in {unfinished[0]}",
            f"its process ended (killed?) while {unfinished[0]} ran; the next run marks "
            "it canceled",
        )
    return None


def _record(store: mlmd.MetadataStore, run: _Run) -> RunRecord:
    executions = run.executions
    states = {e.last_known_state for e in executions}
    if states & {Execution.FAILED, Execution.CANCELED}:
        status = "failed"
    elif states & set(_UNFINISHED):
        status = "running"
    else:
        status = "succeeded"
    started = min(e.create_time_since_epoch for e in executions)
    ended = max(max(e.last_update_time_since_epoch, e.create_time_since_epoch) for e in executions)

    blessed: bool | None = None
    evaluator = run.by_node.get(EVALUATOR)
    if evaluator is not None and evaluator.last_known_state in _DONE:
        blessing = _output_artifacts(store, evaluator.id, "blessing")
        if blessing:
            blessed = _custom(blessing[0], "blessed") == 1

    pushed_version: str | None = None
    rollback = run.by_node.get(ROLLBACK_TYPE)
    if rollback is not None:
        pushed = _output_artifacts(store, rollback.id, PUSHED_MODEL_KEY)
        return RunRecord(
            run_id=run.run_id,
            kind="rollback",
            started=_utc(started),
            duration_seconds=round(max(ended - started, 0) / 1000.0, 3),
            status=status,
            spans=(),
            blessed=None,
            pushed_version=str(_custom(pushed[0], "pushed_version")) if pushed else None,
            stopped_by=None,
            reason=f"republished version {_custom(pushed[0], ROLLBACK_OF)}" if pushed else None,
        )
    pusher = run.by_node.get(PUSHER)
    # Only a Pusher that executed pushed in this run; a cache hit reuses an old push
    # (the same rule as RunSummary.pushed).
    if pusher is not None and pusher.last_known_state == Execution.COMPLETE:
        pushed = _output_artifacts(store, pusher.id, "pushed_model")
        if pushed and _custom(pushed[0], "pushed") == 1:
            version = _custom(pushed[0], "pushed_version")
            pushed_version = None if version is None else str(version)

    stopped_by = reason = None
    failed = [n for n in _node_order(run.by_node) if run.by_node[n].last_known_state in _FAILED]
    ended_early = _ended_early(run)
    if ended_early is not None:
        status, stopped_by, reason = ended_early
    elif DATA_GATE in failed:
        stopped_by = "data gate"
        reason = failure_message(run.by_node[DATA_GATE]) or _anomaly_hint(store, run)
    elif failed:
        stopped_by = f"error in {failed[0]}"
        reason = failure_message(run.by_node[failed[0]])
    elif blessed is False:
        stopped_by = "model gate"

    return RunRecord(
        run_id=run.run_id,
        kind="validation" if VALIDATION_MARKER in run.run_id else "run",
        started=_utc(started),
        duration_seconds=round(max(ended - started, 0) / 1000.0, 3),
        status=status,
        spans=_spans(_examples(store, run)),
        blessed=blessed,
        pushed_version=pushed_version,
        stopped_by=stopped_by,
        reason=reason,
    )


def list_runs(store: mlmd.MetadataStore, pipeline_name: str) -> list[RunRecord]:
    """Lists a pipeline's runs, newest first.

    Args:
        store: The metadata store.
        pipeline_name: The pipeline (its ``pipeline`` context name).

    Returns:
        One record per ``pipeline_run`` with executions of this pipeline, newest
        (by earliest execution) first; empty if the pipeline never ran.
    """
    runs = _runs(store, pipeline_name)
    runs.sort(
        key=lambda r: (min(e.create_time_since_epoch for e in r.executions), r.run_id),
        reverse=True,
    )
    return [_record(store, run) for run in runs]


# ----------------------------------------------------------------------------- diff


def _json_property(execution: Execution | None, name: str) -> Any:
    """A JSON-valued exec property (TFX stores dicts and protos as JSON strings)."""
    if execution is None:
        return None
    # The IR launcher records exec properties as the execution's *custom* properties
    # (its execution types declare none); typed properties are checked for older
    # layouts.
    if name in execution.custom_properties:
        value = execution.custom_properties[name]
    elif name in execution.properties:
        value = execution.properties[name]
    else:
        return None
    kind = value.WhichOneof("value")
    raw = getattr(value, kind) if kind else None
    if not isinstance(raw, str):
        return raw
    try:
        return json.loads(raw)
    except ValueError:
        return raw


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
    return _config(_run(store, pipeline_name, run_id))


def _config(run: _Run) -> dict[str, Any]:
    config: dict[str, Any] = {}
    for node, names in (
        (TRANSFORM, ("custom_config",)),
        (TRAINER, ("custom_config", "train_args", "eval_args")),
        (EVALUATOR, ("eval_config",)),
    ):
        for name in names:
            value = _json_property(run.by_node.get(node), name)
            if value is None:
                continue
            if isinstance(value, dict):
                value = {k: v for k, v in value.items() if k != "code_version"}
            _flatten(f"{node.lower()}.{name}", value, config)
    return config


def _code_version(run: _Run) -> str | None:
    for node in (TRAINER, TRANSFORM):
        config = _json_property(run.by_node.get(node), "custom_config")
        if isinstance(config, dict) and config.get("code_version"):
            return str(config["code_version"])
    return None


def _schema(store: mlmd.MetadataStore, run: _Run) -> metadata_store_pb2.Artifact | None:
    # The schema the run's Transform used; else the one ImportSchemaGen produced.
    for node, key, input_side in ((TRANSFORM, "schema", True), (SCHEMA_GEN, "schema", False)):
        execution = run.by_node.get(node)
        if execution is not None:
            found = _output_artifacts(store, execution.id, key, input_side=input_side)
            if found:
                return found[0]
    return None


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except OSError:  # an artifact garbage-collected or on another machine
        return ""


def _schema_diff(
    a: metadata_store_pb2.Artifact | None, b: metadata_store_pb2.Artifact | None
) -> str:
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


def _metrics(store: mlmd.MetadataStore, run: _Run) -> dict[str, float]:
    evaluator = run.by_node.get(EVALUATOR)
    if evaluator is None or evaluator.last_known_state not in _DONE:
        return {}
    evaluation = _output_artifacts(store, evaluator.id, "evaluation")
    return overall_metrics(evaluation[0].uri) if evaluation else {}


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


def _examples_refs(artifacts: Iterable[metadata_store_pb2.Artifact]) -> tuple[ExamplesRef, ...]:
    refs = []
    for artifact in artifacts:
        version = _custom(artifact, "version")
        refs.append(
            ExamplesRef(
                artifact_id=artifact.id,
                span=int(_custom(artifact, "span") or 0),
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
    a = _run(store, pipeline_name, run_a)
    b = _run(store, pipeline_name, run_b)
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


# ------------------------------------------------------------------------ rendering


def _yes_no(value: bool | None) -> str:
    return "-" if value is None else ("yes" if value else "no")


def _span_list(spans: Iterable[int]) -> str:
    return ",".join(str(s) for s in spans) or "-"


_RUN_COLUMNS = (
    "run id", "started (UTC)", "seconds", "status", "spans", "blessed", "pushed", "stopped by"
)


def format_runs(records: Iterable[RunRecord]) -> str:
    """Renders run records as a fixed-width table, one run a line.

    A run's recorded reason, if any, follows its line, indented.

    Args:
        records: Records from :func:`list_runs`.

    Returns:
        The table (a header only when there are no runs).
    """
    records = list(records)
    rows = [
        (
            r.run_id,
            r.started.replace("+00:00", ""),
            f"{r.duration_seconds:.1f}",
            r.status,
            _span_list(r.spans),
            _yes_no(r.blessed),
            r.pushed_version or "-",
            r.stopped_by or "-",
        )
        for r in records
    ]
    widths = [max([len(h)] + [len(row[i]) for row in rows]) for i, h in enumerate(_RUN_COLUMNS)]
    right = {2}  # seconds: numbers read best right-aligned

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(
            cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
            for i, cell in enumerate(cells)
        ).rstrip()

    lines = [line(_RUN_COLUMNS), line(tuple("-" * w for w in widths))]
    for record, row in zip(records, rows):
        lines.append(line(row))
        if record.reason:
            lines.append(f"    reason: {record.reason}")
    return "\n".join(lines)


def _value(value: Any) -> str:
    if value is None:
        return "(absent)"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def format_diff(diff: RunDiff) -> str:
    """Renders a diff for people: one section each for data, schema, code, config
    and metrics, saying "same" when nothing differs.

    Args:
        diff: A diff from :func:`diff_runs`.

    Returns:
        Multi-line text.
    """
    lines = [f"Pipeline {diff.pipeline_name!r}: run {diff.run_a} (a) -> run {diff.run_b} (b)", ""]

    def examples(refs: tuple[ExamplesRef, ...]) -> str:
        return ", ".join(
            f"span {r.span} (artifact {r.artifact_id}"
            + (f", version {r.version})" if r.version is not None else ")")
            for r in refs
        ) or "none"

    if diff.same_data:
        lines.append(f"data: same ({examples(diff.examples_a)})")
    else:
        lines.append("data:")
        lines.append(f"  a: {examples(diff.examples_a)}")
        lines.append(f"  b: {examples(diff.examples_b)}")
        if diff.spans_added:
            lines.append(f"  spans added: {_span_list(diff.spans_added)}")
        if diff.spans_removed:
            lines.append(f"  spans removed: {_span_list(diff.spans_removed)}")
        if not diff.spans_added and not diff.spans_removed:
            lines.append("  same spans, different Examples artifacts (re-ingested)")

    if diff.same_schema:
        same_artifact = diff.schema_uri_a == diff.schema_uri_b
        where = diff.schema_uri_a or "none"
        lines.append(f"schema: same ({where})" if same_artifact else
                     f"schema: same text ({diff.schema_uri_a} and {diff.schema_uri_b})")
    else:
        lines.append(f"schema: changed ({diff.schema_uri_a} -> {diff.schema_uri_b})")
        lines += [f"  {line}" for line in diff.schema_diff.rstrip("\n").splitlines()]

    if diff.same_code:
        lines.append(f"code version: same ({diff.code_version_a or 'not recorded'})")
    else:
        lines.append(f"code version: {diff.code_version_a} -> {diff.code_version_b}")

    if diff.same_config:
        lines.append("config: same")
    else:
        lines.append("config:")
        lines += [f"  {c.key}: {_value(c.a)} -> {_value(c.b)}" for c in diff.config_changes]

    if not diff.metrics_a and not diff.metrics_b:
        lines.append("metrics: neither run evaluated a model")
    elif not diff.metric_changes:
        lines.append("metrics: same")
    else:
        lines.append("metrics (overall slice):")
        width = max(len(c.key) for c in diff.metric_changes) + 2
        for change in diff.metric_changes:
            delta = (
                f"  ({change.b - change.a:+.4f})"
                if change.a is not None and change.b is not None
                else ""
            )
            lines.append(f"  {change.key:<{width}}{_value(change.a)} -> {_value(change.b)}{delta}")
    return "\n".join(lines)
