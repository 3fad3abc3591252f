"""Records copies of real pipeline runs as later days, for readers of a long history.

The dashboard must stay fast over a year of daily runs, and its browser test needs a
month of days; running a pipeline 365 (or 30) times would take hours. A replayed day
is a real run's ML Metadata records written again through MLMD's API: a new
``pipeline_run`` context, each execution with its state and properties, each
artifact it read or wrote with its ``span`` moved by ``shift`` days (and a pushed
version made a new one), the same events, in the same node contexts. The
artifact files are the real run's (the URIs are kept), so a reader loads real
statistics, distances and evaluations. What MLMD sets itself cannot be copied: a
replayed execution's timestamps are those of its insertion, so replayed days record
no durations.

Only tools (``make bench``, tests) use this; the pipeline never does.
"""

from __future__ import annotations

from collections.abc import Iterable

import ml_metadata as mlmd

from pipeline.mlmd import queries
from pipeline.mlmd.queries import Artifact, Context, Event, Execution

SPAN_PROPERTY = "span"
PUSHED_VERSION_PROPERTY = "pushed_version"


def _renamed(node: Artifact | Execution, run_id: str, shift: int) -> None:
    # A fresh node: MLMD assigns ids and times, and names are unique per type.
    for field in ("id", "create_time_since_epoch", "last_update_time_since_epoch", "external_id"):
        node.ClearField(field)
    if node.name:
        node.name = f"{node.name}@{run_id}"
    if SPAN_PROPERTY in node.custom_properties:
        node.custom_properties[SPAN_PROPERTY].int_value += shift


def _copy_artifact(original: Artifact, run_id: str, shift: int, version_suffix: str) -> Artifact:
    copy = Artifact()
    copy.CopyFrom(original)
    _renamed(copy, run_id, shift)
    version = copy.custom_properties.get(PUSHED_VERSION_PROPERTY)
    if version is not None and version.string_value.isdigit():
        version.string_value += version_suffix
    return copy


def replay_run(
    store: mlmd.MetadataStore,
    pipeline_name: str,
    run_id: str,
    new_run_id: str,
    shift: int,
    version_suffix: str = "",
) -> str:
    """Records a copy of one run, ``shift`` days later, as run ``new_run_id``.

    Args:
        store: The metadata store holding the run.
        pipeline_name: The pipeline.
        run_id: The run to copy.
        new_run_id: The copy's ``pipeline_run`` context name (must be new).
        shift: Days (spans) added to every copied artifact's span.
        version_suffix: Digits appended to a copied PushedModel's numeric version,
            so each replayed push is a version of its own.

    Returns:
        ``new_run_id``.

    Raises:
        LookupError: If the pipeline has no run ``run_id``.
    """
    run = queries.run(store, pipeline_name, run_id)
    run_type = store.get_context_type(queries.RUN_CONTEXT)
    (context_id,) = store.put_contexts([Context(type_id=run_type.id, name=new_run_id)])
    context = store.get_contexts_by_id([context_id])[0]
    events = store.get_events_by_execution_ids([e.id for e in run.executions])
    originals = {
        a.id: a for a in store.get_artifacts_by_id(sorted({e.artifact_id for e in events}))
    }
    copied: dict[int, Artifact] = {}
    for original_id, original in sorted(originals.items()):
        (new_id,) = store.put_artifacts(
            [_copy_artifact(original, new_run_id, shift, version_suffix)]
        )
        copied[original_id] = store.get_artifacts_by_id([new_id])[0]
    for execution in run.executions:
        copy = Execution()
        copy.CopyFrom(execution)
        _renamed(copy, new_run_id, shift)
        links = []
        for event in events:
            if event.execution_id != execution.id or event.artifact_id not in copied:
                continue
            linked = Event()
            linked.CopyFrom(event)
            for field in ("execution_id", "artifact_id", "milliseconds_since_epoch"):
                linked.ClearField(field)
            links.append((copied[event.artifact_id], linked))
        contexts = [
            c for c in store.get_contexts_by_execution(execution.id) if c.id != run.context.id
        ]
        store.put_execution(copy, links, [*contexts, context])
    return new_run_id


def replay(
    store: mlmd.MetadataStore,
    pipeline_name: str,
    plan: Iterable[tuple[str, int]],
    prefix: str = "replay",
) -> list[str]:
    """Replays runs in order: each ``(run id, shift)`` of ``plan`` becomes a new run.

    Args:
        store: The metadata store.
        pipeline_name: The pipeline.
        plan: The runs to copy and how many days later each copy is, in the order
            they are to be recorded (a reader orders pushes by insertion time).
        prefix: The copies' run ids are ``<prefix>-<index>-<original run id>``.

    Returns:
        The new run ids, in order.
    """
    return [
        replay_run(
            store,
            pipeline_name,
            run_id,
            f"{prefix}-{index:04d}-{run_id}",
            shift,
            version_suffix=f"{index:04d}",
        )
        for index, (run_id, shift) in enumerate(plan)
    ]
