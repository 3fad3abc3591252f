"""Move TF Serving's ``stable`` label: ``promote V`` and ``rollback``.

TF Serving serves the versions ``<serving_dir>/models.config`` labels
(:mod:`components.serving_config`); clients ask for ``stable`` or ``canary``. Both
commands only rewrite that file (atomically; TF Serving picks it up at its next
poll), so no model is copied and every version keeps its number:

- ``promote V`` labels V ``stable`` (if V was the canary, the canary label goes).
- ``rollback`` labels ``stable`` the version that was stable before the current one
  (``rollback --to V``: that version).

V must be a version the pipeline pushed (ML Metadata has its PushedModel), whose
model the Evaluator blessed, and whose directory is still on disk. Each change is
recorded in ML Metadata as a ``Promote`` or ``Rollback`` execution in a run of its
own (``promote-<time>``, ``rollback-<time>``) with properties ``label``,
``from_version`` and ``to_version``, taking as inputs the PushedModel and Model now
labelled (so lineage leads from the record to the original model) and the one that
held the label before.

"Before" comes from ML Metadata, not from memory: :func:`stable_history` replays
every push labelled ``stable`` (pushes from before labels existed count: TF Serving
served the newest), every promotion, and every rollback (which returns to an earlier
entry and drops the ones after it), so repeated rollbacks walk further back.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Mapping

import ml_metadata as mlmd
from ml_metadata.proto import metadata_store_pb2

from components import serving_config
from components.serving_config import CANARY, LABEL_PROPERTY, STABLE
from pipeline.config import PipelineConfig
from pipeline.mlmd import queries
from pipeline.mlmd.queries import PIPELINE_CONTEXT, PROMOTE_TYPE, ROLLBACK_TYPE, RUN_CONTEXT
from pipeline.ops import lineage as lineage_lib
from pipeline.ops.lineage import (
    MODEL_KEY,
    PREVIOUS_PUSHED_MODEL_KEY,
    SOURCE_PUSHED_MODEL_KEY,
)

PROMOTE = "promote"
ROLLBACK = "rollback"
_TYPES = {PROMOTE: PROMOTE_TYPE, ROLLBACK: ROLLBACK_TYPE}
# The label change execution's properties (a Rollback type of an earlier release
# also has ``new_version``, the copy it made; MLMD keeps it, nothing sets it now).
PROPERTIES = ("label", "from_version", "to_version")


@dataclasses.dataclass(frozen=True)
class LabelChange:
    """What a ``promote`` or ``rollback`` did.

    Attributes:
        action: ``promote`` or ``rollback``.
        pipeline_name: The pipeline.
        model_name: The served model.
        label: The label moved (``stable``).
        from_version: The version that held it before (None: none did).
        to_version: The version that holds it now.
        labels_before: Label -> version before.
        labels: Label -> version now.
        config_file: The ``models.config`` written.
        model_uri: The Model artifact behind ``to_version``.
        run_id: The ``pipeline_run`` context recording the change.
        execution_id: The execution's MLMD id.
    """

    action: str
    pipeline_name: str
    model_name: str
    label: str
    from_version: str | None
    to_version: str
    labels_before: Mapping[str, str]
    labels: Mapping[str, str]
    config_file: str
    model_uri: str
    run_id: str
    execution_id: int


# ------------------------------------------------------------------------- history


def stable_history(store: mlmd.MetadataStore, config: PipelineConfig) -> list[str]:
    """Replays ML Metadata to the versions ``stable`` went through that still count.

    Args:
        store: The metadata store.
        config: The pipeline config.

    Returns:
        Versions, oldest first, the current stable last; a rollback removed the
        entries after the version it returned to. Consecutive repeats are merged.
    """
    steps: list[tuple[int, int, str, str]] = []  # (time, order, kind, version)
    for artifact in lineage_lib.pushed_models(store, config).values():
        label = queries.custom(artifact, LABEL_PROPERTY)
        # No label: pushed (or copied by an old rollback) before labels existed,
        # when TF Serving served the newest version, i.e. it became stable.
        if label in (None, STABLE):
            version = str(queries.custom(artifact, "pushed_version"))
            steps.append((artifact.create_time_since_epoch, artifact.id, "set", version))
    for type_name in queries.label_change_types(store):
        for execution in queries.label_changes(store, config.pipeline_name, type_name):
            if _property(execution, "label") != STABLE:
                continue  # an earlier release's rollback: its copy's PushedModel counts
            kind = "back" if type_name == ROLLBACK_TYPE else "set"
            version = _property(execution, "to_version")
            steps.append((execution.create_time_since_epoch, execution.id, kind, version))
    history: list[str] = []
    for _, _, kind, version in sorted(steps):
        if kind == "back" and version in history:
            del history[len(history) - history[::-1].index(version) :]
        elif not history or history[-1] != version:
            history.append(version)
    return history


def _property(execution: queries.Execution, name: str) -> str:
    value = execution.properties[name].string_value if name in execution.properties else ""
    return str(value)


def _previous_stable(store: mlmd.MetadataStore, config: PipelineConfig, stable: str | None) -> str:
    if stable is None:
        raise ValueError(
            f"Cannot roll back model {config.model_name!r}: no version is labelled stable "
            f"(see {serving_config.config_path(config.outputs.serving_dir)})."
        )
    history = stable_history(store, config)
    if stable in history:
        index = len(history) - 1 - history[::-1].index(stable)
        if index > 0:
            return history[index - 1]
    raise ValueError(
        f"Cannot roll back from version {stable}: ML Metadata records no version that was "
        f"stable before it for model {config.model_name!r}; name one with --to VERSION."
    )


# ---------------------------------------------------------------------- the target


def _check_target(
    store: mlmd.MetadataStore,
    config: PipelineConfig,
    version: str,
    labels: Mapping[str, str],
) -> tuple[queries.Artifact, lineage_lib.PushOrigin]:
    """The version's PushedModel and origin; ValueError if it may not be stable."""
    recorded = lineage_lib.pushed_models(store, config)
    directory = config.push_dir / version
    if version not in recorded:
        if directory.is_dir():
            raise ValueError(
                f"Version {version} was never blessed: {directory} exists but ML Metadata "
                "has no push of it by the pipeline, so no Evaluator blessing vouches for it."
            )
        known = ", ".join(sorted(recorded, key=int)) or "none"
        raise ValueError(
            f"Version {version} does not exist: model {config.model_name!r} has no pushed "
            f"version of that name (pushed versions: {known})."
        )
    origin = lineage_lib.trace_push(store, recorded[version])
    if not lineage_lib.is_blessed(store, origin):
        raise ValueError(
            f"Version {version} was never blessed: the Evaluator's blessing of its model is "
            "missing or negative, so it may not be served."
        )
    if not directory.is_dir():
        raise ValueError(
            f"Version {version} cannot be served: its directory {directory} is gone (TF "
            "Serving loads versions from there)."
        )
    if labels.get(STABLE) == version:
        raise ValueError(f"Version {version} is already stable.")
    return recorded[version], origin


# ------------------------------------------------------------------------ recording


def _execution_type(store: mlmd.MetadataStore, name: str) -> int:
    execution_type = metadata_store_pb2.ExecutionType(name=name)
    for prop in PROPERTIES:
        execution_type.properties[prop] = metadata_store_pb2.STRING
    # can_add_fields: the Rollback type of an earlier release lacks ``label``; its
    # ``new_version`` stays (can_omit_fields).
    return store.put_execution_type(execution_type, can_add_fields=True, can_omit_fields=True)


def _event(kind: int, key: str) -> metadata_store_pb2.Event:
    event = metadata_store_pb2.Event(type=kind)
    # The same [key, index] path TFX writes, so tools reading TFX events read these.
    event.path.steps.add().key = key
    event.path.steps.add().index = 0
    return event


def _record(
    store: mlmd.MetadataStore,
    config: PipelineConfig,
    action: str,
    *,
    pushed: queries.Artifact,
    model: queries.Artifact,
    previous: queries.Artifact | None,
    from_version: str | None,
    to_version: str,
) -> tuple[str, int]:
    type_id = _execution_type(store, _TYPES[action])
    now = datetime.datetime.now(datetime.timezone.utc)
    run_name = f"{action}-{now.strftime('%Y-%m-%dT%H:%M:%S.%f')}"
    execution = metadata_store_pb2.Execution(
        type_id=type_id, name=run_name, last_known_state=metadata_store_pb2.Execution.COMPLETE
    )
    execution.properties["label"].string_value = STABLE
    execution.properties["from_version"].string_value = from_version or ""
    execution.properties["to_version"].string_value = to_version

    pipeline_context = store.get_context_by_type_and_name(PIPELINE_CONTEXT, config.pipeline_name)
    if pipeline_context is None:  # the version's push was found in it
        raise LookupError(f"no pipeline context {config.pipeline_name!r} in ML Metadata")
    run_type = store.get_context_type(RUN_CONTEXT)
    contexts = [pipeline_context, metadata_store_pb2.Context(type_id=run_type.id, name=run_name)]
    events = [
        (pushed, _event(metadata_store_pb2.Event.INPUT, SOURCE_PUSHED_MODEL_KEY)),
        (model, _event(metadata_store_pb2.Event.INPUT, MODEL_KEY)),
    ]
    if previous is not None:
        events.append((previous, _event(metadata_store_pb2.Event.INPUT, PREVIOUS_PUSHED_MODEL_KEY)))
    # One transaction: the execution, its events and its contexts appear together or
    # not at all. Existing artifacts and contexts are passed back unchanged (with
    # their ids), which MLMD treats as a no-op update.
    execution_id, _, _ = store.put_execution(execution, events, contexts, force_reuse_context=True)
    return run_name, execution_id


# --------------------------------------------------------------------------- moving


def _move_stable(
    store: mlmd.MetadataStore, config: PipelineConfig, action: str, to_version: str | None
) -> LabelChange:
    labels = lineage_lib.current_labels(store, config)
    if to_version is None:
        to_version = _previous_stable(store, config, labels.get(STABLE))
    to_version = str(to_version)
    pushed, origin = _check_target(store, config, to_version, labels)
    from_version = labels.get(STABLE)
    previous = lineage_lib.pushed_models(store, config).get(from_version or "")

    serving = config.outputs.serving_dir
    before: dict[str, str] = {}

    def change(current: dict[str, str] | None) -> dict[str, str]:
        # No entry yet: TF Serving served the newest version, which current_labels
        # already counted as stable.
        before.update(labels if current is None else current)
        after = {**before, STABLE: to_version}
        if after.get(CANARY) == to_version:
            del after[CANARY]  # the canary has become stable
        return after

    after = serving_config.update(serving, config.model_name, change)
    try:
        run_name, execution_id = _record(
            store,
            config,
            action,
            pushed=pushed,
            model=origin.model,
            previous=previous,
            from_version=from_version,
            to_version=to_version,
        )
    except BaseException:
        # An unrecorded label change would serve a version no history explains.
        serving_config.update(serving, config.model_name, lambda _: dict(before))
        raise
    return LabelChange(
        action=action,
        pipeline_name=config.pipeline_name,
        model_name=config.model_name,
        label=STABLE,
        from_version=from_version,
        to_version=to_version,
        labels_before=dict(sorted(before.items())),
        labels=after,
        config_file=str(serving_config.config_path(serving)),
        model_uri=origin.model.uri,
        run_id=run_name,
        execution_id=execution_id,
    )


def promote(store: mlmd.MetadataStore, config: PipelineConfig, version: str) -> LabelChange:
    """Labels a pushed, blessed version ``stable`` (clearing ``canary`` if it was it).

    Args:
        store: The metadata store.
        config: The pipeline config (pipeline name, serving directory).
        version: The version to promote.

    Returns:
        What was done.

    Raises:
        ValueError: If the version was never pushed by the pipeline or never
            blessed, its directory is gone, or it is stable already; nothing is
            written then. Also if ``models.config`` cannot be parsed.
    """
    return _move_stable(store, config, PROMOTE, version)


def rollback(
    store: mlmd.MetadataStore, config: PipelineConfig, to_version: str | None = None
) -> LabelChange:
    """Moves ``stable`` back to the version that held it before (or to ``to_version``).

    Args:
        store: The metadata store.
        config: The pipeline config (pipeline name, serving directory).
        to_version: The version to label stable; default: the previous stable one
            (:func:`stable_history`).

    Returns:
        What was done.

    Raises:
        ValueError: If there is no earlier stable version, or the target was never
            pushed or blessed, its directory is gone, or it is stable already;
            nothing is written then.
    """
    return _move_stable(store, config, ROLLBACK, to_version)
