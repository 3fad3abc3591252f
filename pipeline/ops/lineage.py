"""Where a served model came from and where it went, read from ML Metadata.

``lineage`` walks the events of the store (artifact <-> execution edges) backwards
from a pushed model: Pusher (or a rollback) -> Model -> Trainer -> Transform ->
the Examples of each span, and sideways to the Evaluator and the data checks of the
newest span. Everything comes from what TFX recorded, not from directory names, so
the answer holds for any store (SQLite or MySQL) whatever the pipeline root is.
"""

from __future__ import annotations

import dataclasses
import datetime
import glob
import json
import os
from pathlib import Path
from typing import Any, Iterable, Mapping

import ml_metadata as mlmd
from ml_metadata.proto import metadata_store_pb2

from pipeline.ops import summary
from pipeline.config import PipelineConfig
from pipeline.ops.summary import ModelGate

PUSHED_MODEL = "PushedModel"
ROLLBACK_TYPE = "Rollback"
"""Execution type of :func:`pipeline.ops.rollback.rollback` (defined here so that
lineage can recognise it without importing the module that writes files)."""

# Event path keys of a Rollback execution.
SOURCE_PUSHED_MODEL_KEY = "source_pushed_model"
MODEL_KEY = "model"
PUSHED_MODEL_KEY = "pushed_model"
ROLLBACK_OF = "rollback_of"

_Artifact = metadata_store_pb2.Artifact
_Execution = metadata_store_pb2.Execution
_Event = metadata_store_pb2.Event


@dataclasses.dataclass(frozen=True)
class SpanData:
    """One span the model's training window was built from.

    Attributes:
        span: The span number ExampleGen resolved (days since epoch for a date spec).
        examples_uri: The ingested Examples artifact.
        examples_id: Its MLMD artifact id.
        input_base: The directory ExampleGen read from (its exec property).
        input_pattern: The span's resolved file pattern relative to ``input_base``.
        files: The files matching it now (empty if they were moved away).
        input_fingerprint: TFX's fingerprint of the files when they were ingested
            (number of files, total bytes, checksums of the modification times).
    """

    span: int
    examples_uri: str
    examples_id: int
    input_base: str | None
    input_pattern: str | None
    files: tuple[str, ...]
    input_fingerprint: str | None


@dataclasses.dataclass(frozen=True)
class DataChecks:
    """The checks the newest span of the window went through before training.

    Attributes:
        span: The span number.
        statistics_uri: StatisticsGen's statistics of it.
        anomalies_uri: ExampleValidator's anomalies.
        anomalies_blessed: Whether ExampleValidator found no anomaly in any split.
        gate_report_uri: The DataGate's report artifact.
        gate_passed: Whether the data gate passed the span.
    """

    span: int
    statistics_uri: str | None
    anomalies_uri: str | None
    anomalies_blessed: bool | None
    gate_report_uri: str | None
    gate_passed: bool | None


@dataclasses.dataclass(frozen=True)
class Training:
    """How the model was trained (the Trainer's execution properties).

    Attributes:
        model_uri: The Trainer's Model artifact.
        model_id: Its MLMD artifact id.
        run_id: The ``pipeline_run`` context of the Trainer execution that trained it.
        code_version: The components' code version in ``custom_config``.
        hyperparameters: The hyperparameters in ``custom_config``.
        distribution_strategy: The tf.distribute strategy in ``custom_config``.
        train_steps: ``train_args.num_steps`` (None if unset).
        eval_steps: ``eval_args.num_steps`` (None if unset).
        schema_uri: The schema artifact Transform and Trainer used.
        transform_graph_uri: The Transform graph the model embeds.
        custom_config: The Trainer's full ``custom_config`` (features included).
    """

    model_uri: str
    model_id: int
    run_id: str | None
    code_version: str | None
    hyperparameters: Mapping[str, Any]
    distribution_strategy: str | None
    train_steps: int | None
    eval_steps: int | None
    schema_uri: str | None
    transform_graph_uri: str | None
    custom_config: Mapping[str, Any]


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """The Evaluator's verdict on the model.

    Attributes:
        evaluation_uri: The ModelEvaluation artifact.
        metrics: Overall-slice metrics of the model (TFMA's names).
        blessed: Whether the Evaluator blessed the model.
        gate: The gate metric's value, thresholds and baseline, as TFMA applied them.
        baseline_model_uri: The model it was compared with (None: first model).
        baseline_version: The served version of that baseline, when it was pushed.
    """

    evaluation_uri: str
    metrics: Mapping[str, float]
    blessed: bool | None
    gate: ModelGate | None
    baseline_model_uri: str | None
    baseline_version: str | None


@dataclasses.dataclass(frozen=True)
class Push:
    """Where and when a model version was published.

    Attributes:
        version: The numeric version directory under the model's serving directory.
        destination: The directory recorded at push time.
        pushed_at: When, ISO 8601 in UTC (the PushedModel's creation time).
        pushed_model_id: The PushedModel artifact id.
        run_id: The ``pipeline_run`` context of the push (a pipeline run or a
            ``rollback-...`` run).
        rollback_of: The version this one republished, if it came from a rollback.
    """

    version: str
    destination: str
    pushed_at: str
    pushed_model_id: int
    run_id: str | None
    rollback_of: str | None = None


@dataclasses.dataclass(frozen=True)
class Lineage:
    """A served model version's upstream and downstream, from ML Metadata.

    Attributes:
        pipeline_name: The pipeline.
        model_name: The served model's name.
        version: The version asked about.
        served: Whether it is the version TF Serving loads (the newest).
        push: Where and when it was pushed, and whether it was a rollback.
        original_push: For a rollback, the push of the model it republished
            (following rollbacks of rollbacks to the Pusher's push).
        spans: The spans of the training window, oldest first.
        newest_span: The newest span's statistics, anomalies and data gate report.
        training: The Trainer's config, inputs and run.
        evaluation: The Evaluator's metrics, thresholds and baseline (None if the
            model was never evaluated).
    """

    pipeline_name: str
    model_name: str
    version: str
    served: bool
    push: Push
    original_push: Push | None
    spans: tuple[SpanData, ...]
    newest_span: DataChecks | None
    training: Training
    evaluation: Evaluation | None

    @property
    def run_id(self) -> str | None:
        """The pipeline run that trained the model."""
        return self.training.run_id


# ---------------------------------------------------------------------------------
# MLMD helpers


def custom(artifact: _Artifact | _Execution, key: str) -> Any:
    """Returns a custom property's value (ints, strings, floats, structs as dicts).

    Args:
        artifact: An MLMD artifact or execution.
        key: The custom property.

    Returns:
        Its value, or None if it is not set.
    """
    if key not in artifact.custom_properties:
        return None
    value = artifact.custom_properties[key]
    kind = value.WhichOneof("value")
    if kind == "struct_value":
        # TFX stores e.g. ExampleAnomalies' per-split ``blessed`` as a Struct.
        from google.protobuf import json_format

        return json_format.MessageToDict(value.struct_value)
    return getattr(value, kind) if kind else None


def events(
    store: mlmd.MetadataStore, execution_id: int, key: str, kind: int
) -> list[_Artifact]:
    """Returns the artifacts on one side of an execution under an event path key.

    Args:
        store: The metadata store.
        execution_id: The execution.
        key: The input or output key (e.g. ``model``).
        kind: ``Event.INPUT`` or ``Event.OUTPUT``.

    Returns:
        The artifacts, in the order of their event path index.
    """
    found = []
    for event in store.get_events_by_execution_ids([execution_id]):
        keys = [step.key for step in event.path.steps if step.HasField("key")]
        if event.type == kind and key in keys:
            index = next((s.index for s in event.path.steps if s.HasField("index")), 0)
            found.append((index, event.artifact_id))
    ids = [artifact_id for _, artifact_id in sorted(found)]
    by_id = {a.id: a for a in store.get_artifacts_by_id(ids)} if ids else {}
    return [by_id[i] for i in ids if i in by_id]


def _original_first(executions: Iterable[_Execution]) -> list[_Execution]:
    # A cache hit records events to the very artifacts of the execution it reused,
    # so several executions "produce" one artifact; the one that actually ran
    # (COMPLETE) comes first, then the oldest.
    return sorted(
        executions,
        key=lambda e: (e.last_known_state != _Execution.COMPLETE, e.create_time_since_epoch, e.id),
    )


def _executions_with(
    store: mlmd.MetadataStore, artifact_id: int, kind: int, key: str | None = None
) -> list[_Execution]:
    ids = {
        event.execution_id
        for event in store.get_events_by_artifact_ids([artifact_id])
        if event.type == kind
        and (key is None or any(step.key == key for step in event.path.steps))
    }
    return _original_first(store.get_executions_by_id(list(ids))) if ids else []


def producer(store: mlmd.MetadataStore, artifact_id: int) -> _Execution | None:
    """Returns the execution that produced an artifact (the original, not a cache hit).

    Args:
        store: The metadata store.
        artifact_id: The artifact.

    Returns:
        The execution, or None for an artifact nothing produced (e.g. imported).
    """
    found = _executions_with(store, artifact_id, _Event.OUTPUT)
    return found[0] if found else None


def execution_type(store: mlmd.MetadataStore, execution: _Execution) -> str:
    """Returns an execution's type name (e.g. ``...trainer.component.Trainer``)."""
    return store.get_execution_types_by_id([execution.type_id])[0].name


def run_id(store: mlmd.MetadataStore, execution: _Execution) -> str | None:
    """Returns the name of an execution's ``pipeline_run`` context, if it has one."""
    for context in store.get_contexts_by_execution(execution.id):
        if context.type == summary.RUN_CONTEXT:
            return context.name
    return None


def _iso(millis: int) -> str:
    return (
        datetime.datetime.fromtimestamp(millis / 1000.0, tz=datetime.timezone.utc)
        .isoformat(timespec="seconds")
        .replace("+00:00", "Z")
    )


def pushed_models(store: mlmd.MetadataStore, config: PipelineConfig) -> dict[str, _Artifact]:
    """Returns the pipeline's pushed model versions recorded in ML Metadata.

    Args:
        store: The metadata store.
        config: The pipeline config (its pipeline context).

    Returns:
        Version -> the PushedModel artifact that published it (``pushed`` == 1).
    """
    context = store.get_context_by_type_and_name(summary.PIPELINE_CONTEXT, config.pipeline_name)
    if context is None:
        return {}
    versions: dict[str, _Artifact] = {}
    for artifact in store.get_artifacts_by_context(context.id):
        if artifact.type != PUSHED_MODEL or custom(artifact, "pushed") != 1:
            continue
        version = custom(artifact, "pushed_version")
        if version:
            versions[str(version)] = artifact
    return versions


def version_dirs(config: PipelineConfig) -> list[str]:
    """Returns the numeric version directories in the model's serving directory.

    TF Serving only loads numeric subdirectories, so hidden temp dirs are skipped.

    Args:
        config: The pipeline config (``push_dir``).

    Returns:
        Version names, oldest (smallest) first.
    """
    if not config.push_dir.is_dir():
        return []
    return sorted(
        (p.name for p in config.push_dir.iterdir() if p.is_dir() and p.name.isdigit()), key=int
    )


def served_version(store: mlmd.MetadataStore, config: PipelineConfig) -> str | None:
    """Returns the version TF Serving serves: the newest numeric dir with a push record.

    Args:
        store: The metadata store.
        config: The pipeline config.

    Returns:
        The version, or None if no recorded version is on disk.
    """
    recorded = pushed_models(store, config)
    on_disk = [v for v in version_dirs(config) if v in recorded]
    return on_disk[-1] if on_disk else None


@dataclasses.dataclass(frozen=True)
class PushOrigin:
    """How a PushedModel came to be: the Pusher's push or a rollback's republish.

    Attributes:
        push: The push itself.
        model: The Model artifact that was pushed.
        pusher: The Pusher execution at the end of the chain of rollbacks.
        original: The Pusher's PushedModel at the end of the chain (the artifact
            itself when it was not a rollback).
    """

    push: Push
    model: _Artifact
    pusher: _Execution | None
    original: _Artifact


def trace_push(store: mlmd.MetadataStore, pushed_model: _Artifact) -> PushOrigin:
    """Follows a PushedModel back through rollbacks to the Pusher and its Model.

    Args:
        store: The metadata store.
        pushed_model: A PushedModel artifact.

    Returns:
        Its origin.

    Raises:
        LookupError: If nothing recorded as producing it, or it names no Model.
    """
    execution = producer(store, pushed_model.id)
    if execution is None:
        raise LookupError(f"no execution in ML Metadata produced PushedModel {pushed_model.id}")
    push = Push(
        version=str(custom(pushed_model, "pushed_version")),
        destination=str(custom(pushed_model, "pushed_destination")),
        pushed_at=_iso(pushed_model.create_time_since_epoch),
        pushed_model_id=pushed_model.id,
        run_id=run_id(store, execution),
        rollback_of=(
            None if custom(pushed_model, ROLLBACK_OF) is None
            else str(custom(pushed_model, ROLLBACK_OF))
        ),
    )
    if execution_type(store, execution) == ROLLBACK_TYPE:
        sources = events(store, execution.id, SOURCE_PUSHED_MODEL_KEY, _Event.INPUT)
        if not sources:
            raise LookupError(f"rollback execution {execution.id} names no source PushedModel")
        origin = trace_push(store, sources[0])
        return PushOrigin(push=push, model=origin.model, pusher=origin.pusher, original=origin.original)
    models = events(store, execution.id, MODEL_KEY, _Event.INPUT)
    if not models:
        raise LookupError(f"push execution {execution.id} names no Model")
    return PushOrigin(push=push, model=models[0], pusher=execution, original=pushed_model)


def is_blessed(store: mlmd.MetadataStore, origin: PushOrigin) -> bool:
    """Whether the Evaluator blessed the model behind a push.

    Args:
        store: The metadata store.
        origin: The push, traced back to its Pusher.

    Returns:
        True if the Pusher's ``model_blessing`` input says ``blessed`` = 1.
    """
    if origin.pusher is None:
        return False
    blessings = events(store, origin.pusher.id, "model_blessing", _Event.INPUT)
    return bool(blessings) and custom(blessings[0], "blessed") == 1


# ---------------------------------------------------------------------------------
# Upstream


def _json_property(execution: _Execution, key: str) -> Any:
    raw = custom(execution, key)
    if not raw:
        return None
    try:
        return json.loads(raw)
    except (TypeError, ValueError):
        return None


def _span_data(store: mlmd.MetadataStore, examples: _Artifact) -> SpanData:
    gen = producer(store, examples.id)
    input_base = pattern = None
    if gen is not None:
        input_base = custom(gen, "input_base")
        # The driver stores input_config with the span spec already resolved
        # (``2026-11-01/*.csv``), so it names the exact files of this span.
        input_config = _json_property(gen, "input_config") or {}
        patterns = [s.get("pattern") for s in input_config.get("splits", []) if s.get("pattern")]
        pattern = ",".join(patterns) or None
    files: tuple[str, ...] = ()
    if input_base and pattern:
        files = tuple(
            sorted(f for p in pattern.split(",") for f in glob.glob(os.path.join(input_base, p)))
        )
    return SpanData(
        span=int(custom(examples, "span") or 0),
        examples_uri=examples.uri,
        examples_id=examples.id,
        input_base=input_base,
        input_pattern=pattern,
        files=files,
        input_fingerprint=custom(examples, "input_fingerprint"),
    )


def _data_checks(store: mlmd.MetadataStore, examples: _Artifact) -> DataChecks | None:
    gates = [
        e
        for e in _executions_with(store, examples.id, _Event.INPUT, "examples")
        if execution_type(store, e).endswith(".DataGate")
    ]
    if not gates:
        return None
    gate = gates[0]
    statistics = events(store, gate.id, "statistics", _Event.INPUT)
    anomalies = events(store, gate.id, "anomalies", _Event.INPUT)
    reports = events(store, gate.id, "report_artifact", _Event.OUTPUT)
    blessed = None
    if anomalies:
        per_split = custom(anomalies[0], "blessed")
        if isinstance(per_split, dict) and per_split:
            blessed = all(float(v) == 1.0 for v in per_split.values())
        elif per_split is not None:
            blessed = per_split == 1
    passed = custom(reports[0], "passed") if reports else None
    return DataChecks(
        span=int(custom(examples, "span") or 0),
        statistics_uri=statistics[0].uri if statistics else None,
        anomalies_uri=anomalies[0].uri if anomalies else None,
        anomalies_blessed=blessed,
        gate_report_uri=reports[0].uri if reports else None,
        gate_passed=None if passed is None else passed == 1,
    )


def _training(store: mlmd.MetadataStore, model: _Artifact) -> tuple[Training, list[_Artifact]]:
    trainer = producer(store, model.id)
    if trainer is None:
        raise LookupError(f"no Trainer execution in ML Metadata produced Model {model.uri}")
    custom_config = _json_property(trainer, "custom_config") or {}
    train_args = _json_property(trainer, "train_args") or {}
    eval_args = _json_property(trainer, "eval_args") or {}
    schemas = events(store, trainer.id, "schema", _Event.INPUT)
    graphs = events(store, trainer.id, "transform_graph", _Event.INPUT)
    raw_examples: list[_Artifact] = []
    if graphs:
        transform = producer(store, graphs[0].id)
        if transform is not None:
            raw_examples = events(store, transform.id, "examples", _Event.INPUT)
    else:
        # A Trainer without Transform reads the ingested examples directly.
        raw_examples = events(store, trainer.id, "examples", _Event.INPUT)
    training = Training(
        model_uri=model.uri,
        model_id=model.id,
        run_id=run_id(store, trainer),
        code_version=custom_config.get("code_version"),
        hyperparameters=dict(custom_config.get("hyperparameters") or {}),
        distribution_strategy=custom_config.get("distribution_strategy"),
        train_steps=train_args.get("num_steps"),
        eval_steps=eval_args.get("num_steps"),
        schema_uri=schemas[0].uri if schemas else None,
        transform_graph_uri=graphs[0].uri if graphs else None,
        custom_config=custom_config,
    )
    return training, raw_examples


def _evaluation(
    store: mlmd.MetadataStore, config: PipelineConfig, model: _Artifact
) -> Evaluation | None:
    evaluators = [
        e
        for e in _executions_with(store, model.id, _Event.INPUT, "model")
        if execution_type(store, e).endswith(".Evaluator")
        and e.last_known_state in (_Execution.COMPLETE, _Execution.CACHED)
    ]
    if not evaluators:
        return None
    evaluator = evaluators[0]
    evaluation = events(store, evaluator.id, "evaluation", _Event.OUTPUT)
    if not evaluation:
        return None
    blessing = events(store, evaluator.id, "blessing", _Event.OUTPUT)
    blessed = custom(blessing[0], "blessed") == 1 if blessing else None
    baseline = events(store, evaluator.id, "baseline_model", _Event.INPUT)
    baseline_version = None
    if baseline:
        # The baseline's served version, if it ever went out (its first push).
        for version, pushed in sorted(pushed_models(store, config).items(), key=lambda i: int(i[0])):
            try:
                if trace_push(store, pushed).model.id == baseline[0].id:
                    baseline_version = version
                    break
            except LookupError:
                continue
    return Evaluation(
        evaluation_uri=evaluation[0].uri,
        metrics=summary.overall_metrics(evaluation[0].uri),
        blessed=blessed,
        gate=summary.model_gate(evaluation[0].uri, blessed),
        baseline_model_uri=baseline[0].uri if baseline else None,
        baseline_version=baseline_version,
    )


def lineage(
    store: mlmd.MetadataStore, config: PipelineConfig, version: str | None = None
) -> Lineage:
    """Traces a served model version up to its data and down to its push.

    Args:
        store: The metadata store.
        config: The pipeline config (pipeline name, serving directory).
        version: A pushed version (numeric directory name); default: the served one,
            i.e. the newest numeric directory in ``config.push_dir`` with a push
            record in ML Metadata.

    Returns:
        The lineage; a rollback's lineage is that of the model it republished, with
        ``push.rollback_of`` naming the version it came from.

    Raises:
        LookupError: If the version was never pushed (or nothing is served), or the
            store misses part of its history.
    """
    recorded = pushed_models(store, config)
    served = served_version(store, config)
    if version is None:
        if served is None:
            raise LookupError(
                f"no model of pipeline {config.pipeline_name!r} is served from "
                f"{config.push_dir}: no numeric version directory there has a push "
                "record in ML Metadata"
            )
        version = served
    version = str(version)
    if version not in recorded:
        known = ", ".join(sorted(recorded, key=int)) or "none"
        raise LookupError(
            f"version {version!r} of model {config.model_name!r} was never pushed by "
            f"pipeline {config.pipeline_name!r} (pushed versions: {known})"
        )
    origin = trace_push(store, recorded[version])
    training, raw_examples = _training(store, origin.model)
    spans = tuple(sorted((_span_data(store, e) for e in raw_examples), key=lambda s: s.span))
    newest = max(raw_examples, key=lambda e: int(custom(e, "span") or 0), default=None)
    original_push = None
    if origin.original.id != recorded[version].id:
        original_push = trace_push(store, origin.original).push
    return Lineage(
        pipeline_name=config.pipeline_name,
        model_name=config.model_name,
        version=version,
        served=version == served,
        push=origin.push,
        original_push=original_push,
        spans=spans,
        newest_span=None if newest is None else _data_checks(store, newest),
        training=training,
        evaluation=_evaluation(store, config, origin.model),
    )


# ---------------------------------------------------------------------------------
# Rendering


def _span_date(span: int) -> str:
    # Date span specs number days since the epoch; show the day for people.
    try:
        return (datetime.date(1970, 1, 1) + datetime.timedelta(days=span)).isoformat()
    except OverflowError:
        return "?"


def _yes(flag: bool | None) -> str:
    return "unknown" if flag is None else ("yes" if flag else "no")


def format_lineage(item: Lineage) -> str:
    """Renders a lineage for people.

    Args:
        item: The lineage.

    Returns:
        Multi-line text: push, data, checks, training, evaluation.
    """
    push = item.push
    lines = [
        f"Model {item.model_name!r} version {item.version}"
        f"{' (served)' if item.served else ''} of pipeline {item.pipeline_name!r}",
        f"  pushed:   {push.pushed_at} to {push.destination} (run {push.run_id})",
    ]
    if push.rollback_of is not None:
        lines.append(f"  rollback: yes, republishes version {push.rollback_of}")
        if item.original_push is not None:
            original = item.original_push
            lines.append(
                f"            originally pushed {original.pushed_at} as version "
                f"{original.version} (run {original.run_id})"
            )
    else:
        lines.append("  rollback: no")
    training = item.training
    lines += [f"  model:    {training.model_uri} (trained in run {training.run_id})", ""]
    lines.append(f"Data: {len(item.spans)} span(s) in the training window")
    for span in item.spans:
        files = ", ".join(span.files) if span.files else (
            f"{span.input_base}/{span.input_pattern} (files gone)"
        )
        lines.append(f"  span {span.span} ({_span_date(span.span)}): {files}")
        lines.append(f"    examples {span.examples_uri}")
        if span.input_fingerprint:
            lines.append(f"    fingerprint {span.input_fingerprint}")
    lines.append(f"  schema: {training.schema_uri}")
    checks = item.newest_span
    if checks is not None:
        lines += [
            f"Newest span {checks.span}:",
            f"  statistics: {checks.statistics_uri}",
            f"  anomalies:  {checks.anomalies_uri} (no anomalies: {_yes(checks.anomalies_blessed)})",
            f"  data gate:  {checks.gate_report_uri} (passed: {_yes(checks.gate_passed)})",
        ]
    lines += [
        "",
        "Training:",
        f"  code version: {training.code_version}",
        f"  distribution strategy: {training.distribution_strategy}; "
        f"train steps {training.train_steps}, eval steps {training.eval_steps}",
        "  hyperparameters: "
        + ", ".join(f"{k}={v}" for k, v in sorted(training.hyperparameters.items())),
        f"  transform graph: {training.transform_graph_uri}",
    ]
    evaluation = item.evaluation
    if evaluation is None:
        lines += ["", "Evaluation: none recorded"]
    else:
        lines += ["", f"Evaluation ({evaluation.evaluation_uri}):"]
        for name, value in sorted(evaluation.metrics.items()):
            lines.append(f"  {name:<24}{value:.4f}")
        if evaluation.gate is not None:
            lines.append("  " + evaluation.gate.format(pushed=True).replace("\n", "\n  "))
        baseline = evaluation.baseline_model_uri or "none (first model)"
        if evaluation.baseline_version:
            baseline += f" (served as version {evaluation.baseline_version})"
        lines.append(f"  blessed: {_yes(evaluation.blessed)}; baseline: {baseline}")
    return "\n".join(lines)


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def to_json(obj: Any) -> str:
    """Serialises a result (dataclasses, mappings, sequences) as stable JSON.

    Args:
        obj: A :class:`Lineage`, a rollback result, or anything made of dataclasses,
            mappings, sequences, paths and JSON scalars.

    Returns:
        Indented JSON with sorted keys, so equal results give equal text.
    """
    return json.dumps(_plain(obj), indent=2, sort_keys=True, default=str)
