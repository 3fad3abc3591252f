"""The one ML Metadata query layer: every reader of the store goes through here.

What TFX records, and how this layer reads it:

- Every execution TFX launches is attributed to three contexts: ``pipeline`` (named
  by the pipeline), ``pipeline_run`` (named by the run id alone, so two pipelines
  with one schedule share it) and ``node`` (``<pipeline>.<node id>``). A run's
  executions of *this* pipeline are therefore the ones in both its ``pipeline_run``
  context and one of the pipeline's ``node`` contexts, which one filter query asks.
- A node launched twice in one run (an Airflow task retry) has two executions; the
  last attempt (highest id) stands for the node.
- A cache hit records events to the very artifacts of the execution it reused, so
  an artifact can have several "producers"; the one that actually ran comes first.
- Exec properties are recorded as the execution's custom properties, dicts and
  protos as JSON strings; some TFX artifacts carry Struct-valued custom properties.

A whole upstream trace in one query (``get_lineage_subgraph``) is in
:mod:`pipeline.mlmd.subgraph`.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeAlias

import ml_metadata as mlmd
from google.protobuf import json_format
from ml_metadata.proto import metadata_store_pb2

# ml_metadata's protobuf classes are untyped (Any to mypy): explicit aliases keep
# them usable in annotations.
Artifact: TypeAlias = metadata_store_pb2.Artifact
Execution: TypeAlias = metadata_store_pb2.Execution
Event: TypeAlias = metadata_store_pb2.Event
Context: TypeAlias = metadata_store_pb2.Context

PIPELINE_CONTEXT = "pipeline"
RUN_CONTEXT = "pipeline_run"
NODE_CONTEXT = "node"

# Executions recorded by ``python -m pipeline rollback`` and ``promote`` (label
# changes in TF Serving's models.config): no TFX node, attributed to the pipeline
# context and a run context of their own, listed under their type name as node id.
ROLLBACK_TYPE = "Rollback"
PROMOTE_TYPE = "Promote"
LABEL_CHANGE_TYPES = (ROLLBACK_TYPE, PROMOTE_TYPE)
# On a failed DataGate execution: what blocked the span (JSON: feature -> anomaly
# types), written by the runner from the gate's error (pipeline.run.launch).
GATE_BLOCKING_PROPERTY = "blocking_features"
# Beside it: every distance the gate measured (JSON: a list of Distance fields).
GATE_DISTANCES_PROPERTY = "gate_distances"
# A run's peak memory in MiB (pipeline.run.launch.record_peak_rss): on the run's
# context from the local runner, on its nodes' executions from an Airflow task.
PEAK_RSS_PROPERTY = "peak_rss_mib"

DONE = (Execution.COMPLETE, Execution.CACHED)
UNFINISHED = (Execution.NEW, Execution.RUNNING)

STATE_NAMES = {
    Execution.UNKNOWN: "unknown",
    Execution.NEW: "new",
    Execution.RUNNING: "running",
    Execution.COMPLETE: "complete",
    Execution.FAILED: "failed",
    Execution.CACHED: "cached",
    Execution.CANCELED: "canceled",
}


def _quote(value: str) -> str:
    # MLMD filter queries are parsed by ZetaSQL, whose string literals escape a quote
    # (and the escape character itself) with a backslash; doubling does not parse.
    # (MLMD 1.16's SQLite backend still matches no value holding a backslash.)
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def node_context_name(pipeline_name: str, node_id: str) -> str:
    """Returns the name TFX gives a node's context.

    Args:
        pipeline_name: The pipeline.
        node_id: The node id.

    Returns:
        ``<pipeline>.<node id>``.
    """
    return f"{pipeline_name}.{node_id}"


# ----------------------------------------------------------------------- properties


def custom(item: Artifact | Execution | Context, key: str) -> Any:
    """Returns a custom property's value: int, string, double, bool or Struct (a dict).

    Args:
        item: An MLMD artifact, execution or context.
        key: The custom property.

    Returns:
        Its value, or None if it is not set.
    """
    if key not in item.custom_properties:
        return None
    value = item.custom_properties[key]
    kind = value.WhichOneof("value")
    if kind == "struct_value":
        # TFX stores e.g. ExampleAnomalies' per-split ``blessed`` as a Struct.
        return json_format.MessageToDict(value.struct_value)
    if kind == "proto_value":
        return value.proto_value
    return getattr(value, kind) if kind else None


def json_property(execution: Execution | None, key: str) -> Any:
    """Returns an exec property, decoded from JSON where TFX stored it as JSON.

    The IR launcher records exec properties as the execution's custom properties
    (its execution types declare none); typed properties are read for older layouts.

    Args:
        execution: The execution, or None.
        key: The exec property.

    Returns:
        The decoded value (a dict for ``custom_config``), the raw value when it is no
        JSON, or None when it is absent.
    """
    if execution is None:
        return None
    if key in execution.custom_properties:
        raw = custom(execution, key)
    elif key in execution.properties:
        value = execution.properties[key]
        kind = value.WhichOneof("value")
        raw = getattr(value, kind) if kind else None
    else:
        return None
    if not isinstance(raw, str):
        return raw
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def span(artifact: Artifact | None) -> int | None:
    """Returns an Examples-like artifact's span (a custom or a typed property).

    Args:
        artifact: The artifact, or None.

    Returns:
        The span number, or None.
    """
    if artifact is None:
        return None
    value = custom(artifact, "span")
    if value is None and "span" in artifact.properties:
        value = artifact.properties["span"].int_value
    return None if value is None else int(value)


def spans(artifacts: Iterable[Artifact]) -> tuple[int, ...]:
    """Returns the sorted distinct spans of artifacts that have one.

    Args:
        artifacts: The artifacts.

    Returns:
        Span numbers, ascending.
    """
    return tuple(sorted({s for s in (span(a) for a in artifacts) if s is not None}))


def span_date(number: int | None) -> str:
    """Returns the day a date span stands for (days since the epoch).

    Args:
        number: The span number.

    Returns:
        ``YYYY-MM-DD``, or ``?`` when there is none or it is out of range.
    """
    if number is None:
        return "?"
    try:
        return (datetime.date(1970, 1, 1) + datetime.timedelta(days=number)).isoformat()
    except OverflowError:
        return "?"


def utc(milliseconds: int) -> str:
    """Returns an MLMD timestamp (ms since the epoch) as ISO 8601 UTC, to the second.

    Args:
        milliseconds: The timestamp.

    Returns:
        E.g. ``2026-11-01T12:00:00+00:00``.
    """
    moment = datetime.datetime.fromtimestamp(milliseconds / 1000.0, tz=datetime.timezone.utc)
    return moment.isoformat(timespec="seconds")


def state_name(execution: Execution) -> str:
    """Returns an execution's state as a lower-case word (``complete``, ``cached``...).

    Args:
        execution: The execution.

    Returns:
        The state's name.
    """
    return STATE_NAMES.get(execution.last_known_state, "unknown")


# ----------------------------------------------------------------------- executions


def executions(store: mlmd.MetadataStore, filter_query: str) -> list[Execution]:
    """Returns executions matching an MLMD filter query, ordered by id.

    Args:
        store: The metadata store.
        filter_query: The query, e.g. ``contexts_a.type = 'node' AND ...``.

    Returns:
        The executions, oldest first.
    """
    options = mlmd.ListOptions(
        filter_query=filter_query, order_by=mlmd.OrderByField.ID, is_asc=True
    )
    return list(store.get_executions(list_options=options))


def node_executions(store: mlmd.MetadataStore, pipeline_name: str, node_id: str) -> list[Execution]:
    """Returns every execution of one node of a pipeline, oldest first.

    Args:
        store: The metadata store.
        pipeline_name: The pipeline.
        node_id: The node id.

    Returns:
        The executions, ordered by id.
    """
    name = node_context_name(pipeline_name, node_id)
    return executions(
        store,
        f"contexts_a.type = {_quote(NODE_CONTEXT)} AND contexts_a.name = {_quote(name)}",
    )


def node_ids(store: mlmd.MetadataStore, pipeline_name: str) -> dict[int, str]:
    """Maps execution id -> node id for every execution of a pipeline.

    Rollbacks and promotions are no TFX node: they are listed under their type
    name (:data:`LABEL_CHANGE_TYPES`).

    Args:
        store: The metadata store.
        pipeline_name: The pipeline.

    Returns:
        The mapping.
    """
    prefix = f"{pipeline_name}."
    node_of: dict[int, str] = {}
    for context in store.get_contexts_by_type(NODE_CONTEXT):
        if context.name.startswith(prefix):
            for execution in store.get_executions_by_context(context.id):
                node_of[execution.id] = context.name[len(prefix) :]
    for type_name in label_change_types(store):
        for execution in label_changes(store, pipeline_name, type_name):
            node_of[execution.id] = type_name
    return node_of


def label_change_types(store: mlmd.MetadataStore) -> list[str]:
    """The label change execution types the store knows (a filter on an unknown fails).

    Args:
        store: The metadata store.

    Returns:
        Names from :data:`LABEL_CHANGE_TYPES`.
    """
    known = {t.name for t in store.get_execution_types()}
    return [name for name in LABEL_CHANGE_TYPES if name in known]


def label_changes(store: mlmd.MetadataStore, pipeline_name: str, type_name: str) -> list[Execution]:
    """Returns a pipeline's executions of one label change type, oldest first.

    Args:
        store: The metadata store.
        pipeline_name: The pipeline.
        type_name: :data:`ROLLBACK_TYPE` or :data:`PROMOTE_TYPE` (one the store knows).

    Returns:
        The executions, ordered by id.
    """
    return executions(
        store,
        f"contexts_a.type = {_quote(PIPELINE_CONTEXT)} AND "
        f"contexts_a.name = {_quote(pipeline_name)} AND type = {_quote(type_name)}",
    )


@dataclasses.dataclass(frozen=True)
class Run:
    """One run of a pipeline: its context and its executions.

    Attributes:
        run_id: The ``pipeline_run`` context's name.
        context: That context (the local runner's owner record is on it).
        executions: The pipeline's executions in the run, every attempt, by id.
        by_node: Node id -> the node's last attempt in the run.
        nodes: Execution id -> node id, for every execution of the run.
    """

    run_id: str
    context: Context
    executions: tuple[Execution, ...]
    by_node: Mapping[str, Execution]
    nodes: Mapping[int, str]

    @property
    def start_ms(self) -> int:
        """The first execution's creation time (ms since the epoch)."""
        return min(e.create_time_since_epoch for e in self.executions)

    @property
    def end_ms(self) -> int:
        """The last update (or creation) of any execution (ms since the epoch)."""
        return max(
            max(e.last_update_time_since_epoch, e.create_time_since_epoch) for e in self.executions
        )


def _run_of(context: Context, found: Sequence[Execution], node_of: Mapping[int, str]) -> Run | None:
    mine = tuple(sorted((e for e in found if e.id in node_of), key=lambda e: e.id))
    if not mine:
        return None  # another pipeline's run with the same run id
    by_node: dict[str, Execution] = {}
    for execution in mine:  # by id: the last attempt wins
        by_node[node_of[execution.id]] = execution
    nodes = {e.id: node_of[e.id] for e in mine}
    return Run(context.name, context, mine, by_node, nodes)


def runs(
    store: mlmd.MetadataStore, pipeline_name: str, run_ids: Iterable[str] | None = None
) -> list[Run]:
    """Returns a pipeline's runs (or only ``run_ids``), newest first.

    Args:
        store: The metadata store.
        pipeline_name: The pipeline.
        run_ids: Only these runs; None for all.

    Returns:
        The runs that hold at least one execution of the pipeline, by their first
        execution's time, newest first.
    """
    if store.get_context_by_type_and_name(PIPELINE_CONTEXT, pipeline_name) is None:
        return []
    node_of = node_ids(store, pipeline_name)
    if run_ids is None:
        contexts = list(store.get_contexts_by_type(RUN_CONTEXT))
    else:
        contexts = [
            c
            for c in (store.get_context_by_type_and_name(RUN_CONTEXT, r) for r in run_ids)
            if c is not None
        ]
    found = []
    for context in contexts:
        run = _run_of(context, store.get_executions_by_context(context.id), node_of)
        if run is not None:
            found.append(run)
    return sorted(found, key=lambda r: (r.start_ms, r.run_id), reverse=True)


def run(store: mlmd.MetadataStore, pipeline_name: str, run_id: str) -> Run:
    """Returns one run of a pipeline.

    Args:
        store: The metadata store.
        pipeline_name: The pipeline.
        run_id: The run id.

    Returns:
        The run.

    Raises:
        LookupError: The pipeline has no such run.
    """
    found = runs(store, pipeline_name, [run_id])
    if not found:
        raise LookupError(f"no run {run_id!r} of pipeline {pipeline_name!r} in ML Metadata")
    return found[0]


def run_id_of(store: mlmd.MetadataStore, execution: Execution) -> str | None:
    """Returns the name of an execution's ``pipeline_run`` context, if it has one.

    Args:
        store: The metadata store.
        execution: The execution.

    Returns:
        The run id, or None.
    """
    for context in store.get_contexts_by_execution(execution.id):
        if context.type == RUN_CONTEXT:
            return context.name
    return None


def node_id_of(store: mlmd.MetadataStore, execution: Execution, pipeline_name: str) -> str | None:
    """Returns the id of the pipeline node an execution belongs to, if any.

    The node id, not the execution type, says which step an execution was: a node
    may run a subclass of TFX's component (the sampled Evaluator).

    Args:
        store: The metadata store.
        execution: The execution.
        pipeline_name: The pipeline.

    Returns:
        The node id (e.g. ``Evaluator``), or None.
    """
    prefix = f"{pipeline_name}."
    for context in store.get_contexts_by_execution(execution.id):
        if context.type == NODE_CONTEXT and context.name.startswith(prefix):
            return context.name[len(prefix) :]
    return None


def execution_type(store: mlmd.MetadataStore, execution: Execution) -> str:
    """Returns an execution's type name (e.g. ``...trainer.component.Trainer``).

    Args:
        store: The metadata store.
        execution: The execution.

    Returns:
        The type name.
    """
    return store.get_execution_types_by_id([execution.type_id])[0].name


# ------------------------------------------------------------------------ artifacts


def artifact_ids(events: Iterable[Event], key: str, kind: int) -> list[int]:
    """Returns the artifact ids of events on one side under one input/output key.

    An event's path is (key, index): the input/output key, then the position in
    that key's list, which is the order the component saw the artifacts in.

    Args:
        events: Events of one execution.
        key: The input or output key.
        kind: ``Event.OUTPUT`` or ``Event.INPUT``.

    Returns:
        The artifact ids, in the order of their event path index.
    """
    found = []
    for event in events:
        keys = [step.key for step in event.path.steps if step.HasField("key")]
        if event.type == kind and key in keys:
            index = next((s.index for s in event.path.steps if s.HasField("index")), 0)
            found.append((index, event.artifact_id))
    return [artifact_id for _, artifact_id in sorted(found)]


def artifacts(
    store: mlmd.MetadataStore, execution_id: int, key: str, kind: int = Event.OUTPUT
) -> list[Artifact]:
    """Returns the artifacts on one side of an execution under one input/output key.

    Args:
        store: The metadata store.
        execution_id: The execution.
        key: The input or output key (e.g. ``examples``, ``model``).
        kind: ``Event.OUTPUT`` (default) or ``Event.INPUT``.

    Returns:
        The artifacts, in the order of their event path index.
    """
    ids = artifact_ids(store.get_events_by_execution_ids([execution_id]), key, kind)
    by_id = {a.id: a for a in store.get_artifacts_by_id(ids)} if ids else {}
    return [by_id[i] for i in ids if i in by_id]


def artifact(
    store: mlmd.MetadataStore,
    execution: Execution | None,
    key: str,
    kind: int = Event.OUTPUT,
) -> Artifact | None:
    """Returns the first artifact under a key of an execution, if any.

    Args:
        store: The metadata store.
        execution: The execution, or None.
        key: The input or output key.
        kind: ``Event.OUTPUT`` (default) or ``Event.INPUT``.

    Returns:
        The artifact, or None.
    """
    if execution is None:
        return None
    found = artifacts(store, execution.id, key, kind)
    return found[0] if found else None


def original_first(found: Iterable[Execution]) -> list[Execution]:
    """Orders the executions that share an output: the one that actually ran first.

    A cache hit records an OUTPUT event to the very artifact the original produced.

    Args:
        found: Executions with an OUTPUT event to one artifact (cache hits included).

    Returns:
        COMPLETE ones first, then the rest; oldest first within each.
    """
    return sorted(
        found,
        key=lambda e: (e.last_known_state != Execution.COMPLETE, e.create_time_since_epoch, e.id),
    )


def executions_with(
    store: mlmd.MetadataStore, artifact_id: int, kind: int, key: str | None = None
) -> list[Execution]:
    """Returns the executions that took (INPUT) or produced (OUTPUT) an artifact.

    Args:
        store: The metadata store.
        artifact_id: The artifact.
        kind: ``Event.INPUT`` or ``Event.OUTPUT``.
        key: Only events under this input/output key; None for any.

    Returns:
        The executions, the one that actually ran (COMPLETE) first, then oldest first.
    """
    ids = {
        event.execution_id
        for event in store.get_events_by_artifact_ids([artifact_id])
        if event.type == kind and (key is None or any(s.key == key for s in event.path.steps))
    }
    return original_first(store.get_executions_by_id(list(ids))) if ids else []


def producer(store: mlmd.MetadataStore, artifact_id: int) -> Execution | None:
    """Returns the execution that produced an artifact (the original, not a cache hit).

    Args:
        store: The metadata store.
        artifact_id: The artifact.

    Returns:
        The execution, or None for an artifact nothing produced (e.g. imported).
    """
    found = executions_with(store, artifact_id, Event.OUTPUT)
    return found[0] if found else None


def _context_artifacts(
    store: mlmd.MetadataStore, context_type: str, context_name: str, type_name: str | None
) -> list[Artifact]:
    query = f"contexts_a.type = {_quote(context_type)} AND contexts_a.name = {_quote(context_name)}"
    if type_name is not None:
        query += f" AND type = {_quote(type_name)}"
    options = mlmd.ListOptions(filter_query=query, order_by=mlmd.OrderByField.ID, is_asc=True)
    return list(store.get_artifacts(list_options=options))


def node_artifacts(
    store: mlmd.MetadataStore, pipeline_name: str, node_id: str, type_name: str | None = None
) -> list[Artifact]:
    """Returns the artifacts attributed to a node's context, oldest first.

    TFX puts an execution with its input and output events and its contexts in one
    call, which attributes both sides to the node: these are what the node's
    executions took and produced.

    Args:
        store: The metadata store.
        pipeline_name: The pipeline.
        node_id: The node id.
        type_name: Only artifacts of this type (e.g. ``Examples``); None for all.

    Returns:
        The artifacts, ordered by id.
    """
    name = node_context_name(pipeline_name, node_id)
    return _context_artifacts(store, NODE_CONTEXT, name, type_name)


def pipeline_artifacts(
    store: mlmd.MetadataStore, pipeline_name: str, type_name: str | None = None
) -> list[Artifact]:
    """Returns the artifacts attributed to a pipeline's context, oldest first.

    Every execution of the pipeline (a rollback included) attributes what it took
    and produced to the pipeline context.

    Args:
        store: The metadata store.
        pipeline_name: The pipeline.
        type_name: Only artifacts of this type (e.g. ``PushedModel``); None for all.

    Returns:
        The artifacts, ordered by id.
    """
    return _context_artifacts(store, PIPELINE_CONTEXT, pipeline_name, type_name)
