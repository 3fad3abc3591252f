"""Where a served model came from and where it went, read from ML Metadata.

``lineage`` follows the events of the store (artifact <-> execution edges) back from
a pushed model: Pusher (or an earlier release's rollback copy) -> Model, then one
upstream lineage subgraph from the Model (Trainer -> Transform -> the Examples of
each span -> ExampleGen), and forward to the Evaluator and the data checks of the
newest span. Everything comes from what TFX recorded, not from directory names, so
the answer holds for any store (SQLite or MySQL) whatever the pipeline root is. The
text and JSON renderings are in :mod:`pipeline.views.lineage`. Which version holds
which TF Serving label (``stable``, ``canary``) is read from
``<serving_dir>/models.config`` (:func:`current_labels`).
"""

from __future__ import annotations

import dataclasses
import glob
import os
from collections.abc import Mapping
from typing import Any

import ml_metadata as mlmd

from components import serving_config
from pipeline.config import PipelineConfig
from pipeline.mlmd import queries, subgraph
from pipeline.mlmd.queries import Artifact, Event, Execution
from pipeline.nodes import EVALUATOR
from pipeline.ops.model_gate import ModelGate, model_gate, overall_metrics, recorded_metrics

PUSHED_MODEL = "PushedModel"

# Event path keys of a label change (queries.ROLLBACK_TYPE, PROMOTE_TYPE: the
# PushedModel and Model now labelled), and the custom property on the PushedModel of
# an earlier release's rollback, which republished a version as a new one.
SOURCE_PUSHED_MODEL_KEY = "source_pushed_model"
MODEL_KEY = "model"
PUSHED_MODEL_KEY = "pushed_model"
PREVIOUS_PUSHED_MODEL_KEY = "previous_pushed_model"
ROLLBACK_OF = "rollback_of"

# From a Model, the upstream subgraph reaches Trainer (1 hop), its transform graph
# (2), Transform (3), the raw Examples (4) and ExampleGen (5). A bound keeps the walk
# from following warm starts (base_model) back through every earlier model.
TRAINING_HOPS = 5


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
        served: Whether it is the version TF Serving serves as ``stable`` (see
            :func:`served_version`).
        labels: The TF Serving labels the version holds now (``stable``,
            ``canary``; empty: TF Serving does not load it).
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
    labels: tuple[str, ...]
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


def _mapping(value: Any) -> Mapping[str, Any]:
    # JSON exec properties of TFX are objects; anything else reads as empty.
    return value if isinstance(value, Mapping) else {}


def _iso(milliseconds: int) -> str:
    return queries.utc(milliseconds).replace("+00:00", "Z")


def pushed_models(store: mlmd.MetadataStore, config: PipelineConfig) -> dict[str, Artifact]:
    """Returns the pipeline's pushed model versions recorded in ML Metadata.

    Args:
        store: The metadata store.
        config: The pipeline config (its pipeline context).

    Returns:
        Version -> the PushedModel artifact that published it (``pushed`` == 1).
    """
    versions: dict[str, Artifact] = {}
    for artifact in queries.pipeline_artifacts(store, config.pipeline_name, PUSHED_MODEL):
        if queries.custom(artifact, "pushed") != 1:
            continue
        version = queries.custom(artifact, "pushed_version")
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


def current_labels(store: mlmd.MetadataStore, config: PipelineConfig) -> dict[str, str]:
    """Returns which version holds which TF Serving label now.

    From ``<serving_dir>/models.config`` when it has the model's entry. Without one
    (a serving directory pushed to before labels existed), TF Serving's default
    policy serves the newest version, so that one counts as ``stable``: the newest
    numeric directory with a push record in ML Metadata.

    Args:
        store: The metadata store.
        config: The pipeline config (serving directory, model name).

    Returns:
        Label -> version; empty when nothing is served.

    Raises:
        components.serving_config.ServingConfigError: If ``models.config`` cannot
            be parsed.
    """
    labelled = serving_config.labels(config.outputs.serving_dir, config.model_name)
    if labelled is not None:
        return labelled
    recorded = pushed_models(store, config)
    on_disk = [v for v in version_dirs(config) if v in recorded]
    return {serving_config.STABLE: on_disk[-1]} if on_disk else {}


def labels_of(labels: Mapping[str, str], version: str) -> tuple[str, ...]:
    """The labels one version holds.

    Args:
        labels: Label -> version (from :func:`current_labels`).
        version: A version.

    Returns:
        Its labels, ``stable`` before ``canary``.
    """
    return tuple(label for label in serving_config.LABELS if labels.get(label) == version)


def served_version(store: mlmd.MetadataStore, config: PipelineConfig) -> str | None:
    """Returns the version TF Serving serves as ``stable``.

    Args:
        store: The metadata store.
        config: The pipeline config.

    Returns:
        The ``stable`` label's version in ``models.config``; without that file, the
        newest numeric directory with a push record; None if there is none.
    """
    return current_labels(store, config).get(serving_config.STABLE)


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
    model: Artifact
    pusher: Execution | None
    original: Artifact


def trace_push(store: mlmd.MetadataStore, pushed_model: Artifact) -> PushOrigin:
    """Follows a PushedModel back through rollbacks to the Pusher and its Model.

    Args:
        store: The metadata store.
        pushed_model: A PushedModel artifact.

    Returns:
        Its origin.

    Raises:
        LookupError: If nothing recorded as producing it, or it names no Model.
    """
    execution = queries.producer(store, pushed_model.id)
    if execution is None:
        raise LookupError(f"no execution in ML Metadata produced PushedModel {pushed_model.id}")
    rollback_of = queries.custom(pushed_model, ROLLBACK_OF)
    push = Push(
        version=str(queries.custom(pushed_model, "pushed_version")),
        destination=str(queries.custom(pushed_model, "pushed_destination")),
        pushed_at=_iso(pushed_model.create_time_since_epoch),
        pushed_model_id=pushed_model.id,
        run_id=queries.run_id_of(store, execution),
        rollback_of=None if rollback_of is None else str(rollback_of),
    )
    if queries.execution_type(store, execution) == queries.ROLLBACK_TYPE:
        source = queries.artifact(store, execution, SOURCE_PUSHED_MODEL_KEY, Event.INPUT)
        if source is None:
            raise LookupError(f"rollback execution {execution.id} names no source PushedModel")
        origin = trace_push(store, source)
        return dataclasses.replace(origin, push=push)
    model = queries.artifact(store, execution, MODEL_KEY, Event.INPUT)
    if model is None:
        raise LookupError(f"push execution {execution.id} names no Model")
    return PushOrigin(push=push, model=model, pusher=execution, original=pushed_model)


def is_blessed(store: mlmd.MetadataStore, origin: PushOrigin) -> bool:
    """Whether the Evaluator blessed the model behind a push.

    Args:
        store: The metadata store.
        origin: The push, traced back to its Pusher.

    Returns:
        True if the Pusher's ``model_blessing`` input says ``blessed`` = 1.
    """
    blessing = queries.artifact(store, origin.pusher, "model_blessing", Event.INPUT)
    return blessing is not None and queries.custom(blessing, "blessed") == 1


# ---------------------------------------------------------------------------------
# Upstream


def _span_data(graph: subgraph.Subgraph, examples: Artifact) -> SpanData:
    gen = graph.producer(examples.id)
    input_base = pattern = None
    if gen is not None:
        input_base = queries.custom(gen, "input_base")
        # The driver stores input_config with the span spec already resolved
        # (``2026-11-01/*.csv``), so it names the exact files of this span.
        input_config = _mapping(queries.json_property(gen, "input_config"))
        patterns = [s.get("pattern") for s in input_config.get("splits", []) if s.get("pattern")]
        pattern = ",".join(patterns) or None
    files: tuple[str, ...] = ()
    if input_base and pattern:
        files = tuple(
            sorted(f for p in pattern.split(",") for f in glob.glob(os.path.join(input_base, p)))
        )
    return SpanData(
        span=queries.span(examples) or 0,
        examples_uri=examples.uri,
        examples_id=examples.id,
        input_base=input_base,
        input_pattern=pattern,
        files=files,
        input_fingerprint=queries.custom(examples, "input_fingerprint"),
    )


def _anomalies_blessed(anomalies: Artifact | None) -> bool | None:
    # ExampleAnomalies records ``blessed`` per split (a Struct) or, older, as one int.
    per_split = None if anomalies is None else queries.custom(anomalies, "blessed")
    if isinstance(per_split, dict) and per_split:
        return all(float(v) == 1.0 for v in per_split.values())
    return None if per_split is None else per_split == 1


def _data_checks(store: mlmd.MetadataStore, examples: Artifact) -> DataChecks | None:
    gates = [
        e
        for e in queries.executions_with(store, examples.id, Event.INPUT, "examples")
        if queries.execution_type(store, e).endswith(".DataGate")
    ]
    if not gates:
        return None
    gate = gates[0]
    statistics = queries.artifact(store, gate, "statistics", Event.INPUT)
    anomalies = queries.artifact(store, gate, "anomalies", Event.INPUT)
    report = queries.artifact(store, gate, "report_artifact")
    passed = None if report is None else queries.custom(report, "passed")
    return DataChecks(
        span=queries.span(examples) or 0,
        statistics_uri=None if statistics is None else statistics.uri,
        anomalies_uri=None if anomalies is None else anomalies.uri,
        anomalies_blessed=_anomalies_blessed(anomalies),
        gate_report_uri=None if report is None else report.uri,
        gate_passed=None if passed is None else passed == 1,
    )


def _training(
    store: mlmd.MetadataStore, model: Artifact
) -> tuple[Training, list[Artifact], subgraph.Subgraph]:
    graph = subgraph.upstream(store, model.id, TRAINING_HOPS)
    trainer = graph.producer(model.id)
    if trainer is None:
        raise LookupError(f"no Trainer execution in ML Metadata produced Model {model.uri}")
    custom_config = _mapping(queries.json_property(trainer, "custom_config"))
    train_args = _mapping(queries.json_property(trainer, "train_args"))
    eval_args = _mapping(queries.json_property(trainer, "eval_args"))
    schemas = graph.artifacts(trainer.id, "schema", Event.INPUT)
    transform_graphs = graph.artifacts(trainer.id, "transform_graph", Event.INPUT)
    raw_examples: list[Artifact] = []
    if transform_graphs:
        transform = graph.producer(transform_graphs[0].id)
        if transform is not None:
            raw_examples = graph.artifacts(transform.id, "examples", Event.INPUT)
    else:
        # A Trainer without Transform reads the ingested examples directly.
        raw_examples = graph.artifacts(trainer.id, "examples", Event.INPUT)
    training = Training(
        model_uri=model.uri,
        model_id=model.id,
        run_id=graph.run_id(trainer),
        code_version=custom_config.get("code_version"),
        hyperparameters=dict(custom_config.get("hyperparameters") or {}),
        distribution_strategy=custom_config.get("distribution_strategy"),
        train_steps=train_args.get("num_steps"),
        eval_steps=eval_args.get("num_steps"),
        schema_uri=schemas[0].uri if schemas else None,
        transform_graph_uri=transform_graphs[0].uri if transform_graphs else None,
        custom_config=dict(custom_config),
    )
    return training, raw_examples, graph


def _baseline_version(
    store: mlmd.MetadataStore, config: PipelineConfig, baseline: Artifact
) -> str | None:
    # The baseline's served version, if it ever went out (its first push).
    for version, pushed in sorted(pushed_models(store, config).items(), key=lambda i: int(i[0])):
        try:
            if trace_push(store, pushed).model.id == baseline.id:
                return version
        except LookupError:
            continue
    return None


def _evaluation(
    store: mlmd.MetadataStore, config: PipelineConfig, model: Artifact, gate: bool
) -> Evaluation | None:
    evaluators = [
        e
        for e in queries.executions_with(store, model.id, Event.INPUT, "model")
        if queries.node_id_of(store, e, config.pipeline_name) == EVALUATOR
        and e.last_known_state in queries.DONE
    ]
    if not evaluators:
        return None
    evaluator = evaluators[0]
    evaluation = queries.artifact(store, evaluator, "evaluation")
    if evaluation is None:
        return None
    blessing = queries.artifact(store, evaluator, "blessing")
    blessed = None if blessing is None else queries.custom(blessing, "blessed") == 1
    baseline = queries.artifact(store, evaluator, "baseline_model", Event.INPUT)
    recorded = recorded_metrics(evaluation)
    overall = recorded["candidate"].get("overall", {}) if recorded is not None else None
    return Evaluation(
        evaluation_uri=evaluation.uri,
        metrics=overall if overall is not None else overall_metrics(evaluation.uri),
        blessed=blessed,
        gate=model_gate(evaluation.uri, blessed) if gate else None,
        baseline_model_uri=None if baseline is None else baseline.uri,
        baseline_version=None if baseline is None else _baseline_version(store, config, baseline),
    )


def _version_asked(
    recorded: Mapping[str, Artifact],
    served: str | None,
    config: PipelineConfig,
    version: str | None,
) -> str:
    if version is None:
        if served is None:
            raise LookupError(
                f"no model of pipeline {config.pipeline_name!r} is served from "
                f"{config.push_dir}: no version is labelled stable in "
                f"{serving_config.config_path(config.outputs.serving_dir)}, or without that "
                "file, no numeric version directory there has a push record in ML Metadata"
            )
        return served
    if str(version) not in recorded:
        known = ", ".join(sorted(recorded, key=int)) or "none"
        raise LookupError(
            f"version {str(version)!r} of model {config.model_name!r} was never pushed by "
            f"pipeline {config.pipeline_name!r} (pushed versions: {known})"
        )
    return str(version)


def lineage(
    store: mlmd.MetadataStore,
    config: PipelineConfig,
    version: str | None = None,
    gate: bool = True,
) -> Lineage:
    """Traces a served model version up to its data and down to its push.

    Args:
        store: The metadata store.
        config: The pipeline config (pipeline name, serving directory).
        version: A pushed version (numeric directory name); default: the served one
            (:func:`served_version`).
        gate: Whether to read the model gate (thresholds and verdicts) with TFMA;
            False leaves ``evaluation.gate`` None, and with the metrics the
            Evaluator recorded, TFMA is not imported at all.

    Returns:
        The lineage; a rollback's lineage is that of the model it republished, with
        ``push.rollback_of`` naming the version it came from.

    Raises:
        LookupError: If the version was never pushed (or nothing is served), or the
            store misses part of its history.
    """
    recorded = pushed_models(store, config)
    labels = current_labels(store, config)
    served = labels.get(serving_config.STABLE)
    version = _version_asked(recorded, served, config, version)
    origin = trace_push(store, recorded[version])
    training, raw_examples, graph = _training(store, origin.model)
    spans = tuple(sorted((_span_data(graph, e) for e in raw_examples), key=lambda s: s.span))
    newest = max(raw_examples, key=lambda e: queries.span(e) or 0, default=None)
    original_push = None
    if origin.original.id != recorded[version].id:
        original_push = trace_push(store, origin.original).push
    return Lineage(
        pipeline_name=config.pipeline_name,
        model_name=config.model_name,
        version=version,
        served=version == served,
        labels=labels_of(labels, version),
        push=origin.push,
        original_push=original_push,
        spans=spans,
        newest_span=None if newest is None else _data_checks(store, newest),
        training=training,
        evaluation=_evaluation(store, config, origin.model, gate),
    )
