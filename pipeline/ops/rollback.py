"""Republish a previously pushed, blessed model as the newest serving version.

TF Serving serves the highest numeric subdirectory of the model's directory, so a
rollback is a new, higher version holding a byte-identical copy of the old one,
published as the Pusher publishes (:mod:`components.serving_dir`: a hidden staging
directory, fsync, one rename), so TF Serving never sees a half-copied version. The
rollback is recorded in ML Metadata as its own execution, in its own
``rollback-...`` run, linking the source PushedModel and Model to a new PushedModel,
so that ``lineage`` of the new version leads back to the original model's data,
training and evaluation.
"""

from __future__ import annotations

import dataclasses
import datetime
import time
from pathlib import Path

import ml_metadata as mlmd
from ml_metadata.proto import metadata_store_pb2

from components import serving_dir
from pipeline.config import PipelineConfig
from pipeline.mlmd.queries import PIPELINE_CONTEXT, ROLLBACK_TYPE, RUN_CONTEXT
from pipeline.ops import lineage as lineage_lib
from pipeline.ops.lineage import (
    MODEL_KEY,
    PUSHED_MODEL,
    PUSHED_MODEL_KEY,
    ROLLBACK_OF,
    SOURCE_PUSHED_MODEL_KEY,
)

RUN_PREFIX = "rollback-"


@dataclasses.dataclass(frozen=True)
class RollbackResult:
    """What a rollback did.

    Attributes:
        pipeline_name: The pipeline.
        model_name: The served model.
        from_version: The version served before the rollback (None: none was).
        to_version: The earlier version that was republished.
        new_version: The new numeric version directory, now served.
        destination: Its path.
        source_dir: The directory it was copied from.
        run_id: The ``pipeline_run`` context recording the rollback.
        execution_id: The Rollback execution's MLMD id.
        pushed_model_id: The new PushedModel artifact's MLMD id.
        model_uri: The Model artifact the republished version came from.
    """

    pipeline_name: str
    model_name: str
    from_version: str | None
    to_version: str
    new_version: str
    destination: str
    source_dir: str
    run_id: str
    execution_id: int
    pushed_model_id: int
    model_uri: str


def _new_version(config: PipelineConfig) -> str:
    # Like the Pusher, a unix timestamp; but strictly above every existing version
    # so that it sorts newest even if a version came from a clock ahead of ours.
    existing = [int(v) for v in lineage_lib.version_dirs(config)]
    return str(max(existing + [int(time.time())]) + 1)


def _default_target(
    store: mlmd.MetadataStore,
    config: PipelineConfig,
    served: str | None,
    recorded: dict[str, metadata_store_pb2.Artifact],
) -> str:
    if served is None:
        raise ValueError(
            f"Cannot pick a version to roll back to: no recorded version of model "
            f"{config.model_name!r} is served from {config.push_dir}."
        )
    served_model = lineage_lib.trace_push(store, recorded[served]).model.id
    # The newest earlier version holding a different model: rolling back to a
    # version that republished the served model would change nothing.
    for version in sorted(recorded, key=int, reverse=True):
        if int(version) >= int(served):
            continue
        origin = lineage_lib.trace_push(store, recorded[version])
        if origin.model.id != served_model and lineage_lib.is_blessed(store, origin):
            return version
    raise ValueError(
        f"Cannot roll back from version {served}: no earlier blessed version of a "
        f"different model of {config.model_name!r} was pushed."
    )


def _source_dir(config: PipelineConfig, version: str, model: metadata_store_pb2.Artifact) -> Path:
    on_disk = config.push_dir / version
    if on_disk.is_dir():
        return on_disk
    # TF Serving's version policy or an operator may have pruned the old version;
    # the Pusher copied it from the Model's serving export, which may still exist.
    exported = Path(model.uri) / "Format-Serving"
    if exported.is_dir():
        return exported
    raise ValueError(
        f"Version {version} cannot be republished: neither {on_disk} nor the model's "
        f"export {exported} exists any more."
    )


def _execution_type(store: mlmd.MetadataStore) -> int:
    execution_type = metadata_store_pb2.ExecutionType(name=ROLLBACK_TYPE)
    for name in ("from_version", "to_version", "new_version"):
        execution_type.properties[name] = metadata_store_pb2.STRING
    # can_add_fields: a later version of this module may add properties to the type.
    return store.put_execution_type(execution_type, can_add_fields=True)


def _event(kind: int, key: str) -> metadata_store_pb2.Event:
    event = metadata_store_pb2.Event(type=kind)
    # The same [key, index] path TFX writes, so tools reading TFX events read these.
    event.path.steps.add().key = key
    event.path.steps.add().index = 0
    return event


def _record(
    store: mlmd.MetadataStore,
    config: PipelineConfig,
    *,
    source: metadata_store_pb2.Artifact,
    model: metadata_store_pb2.Artifact,
    from_version: str | None,
    to_version: str,
    new_version: str,
    destination: Path,
) -> tuple[str, int, int]:
    type_id = _execution_type(store)
    now = datetime.datetime.now(datetime.timezone.utc)
    run_name = f"{RUN_PREFIX}{now.strftime('%Y-%m-%dT%H:%M:%S.%f')}"

    execution = metadata_store_pb2.Execution(
        type_id=type_id, name=run_name, last_known_state=metadata_store_pb2.Execution.COMPLETE
    )
    execution.properties["from_version"].string_value = from_version or ""
    execution.properties["to_version"].string_value = to_version
    execution.properties["new_version"].string_value = new_version

    pushed_type = store.get_artifact_type(PUSHED_MODEL)
    pushed = metadata_store_pb2.Artifact(
        type_id=pushed_type.id, uri=str(destination), state=metadata_store_pb2.Artifact.LIVE
    )
    pushed.custom_properties["pushed"].int_value = 1
    pushed.custom_properties["pushed_destination"].string_value = str(destination)
    pushed.custom_properties["pushed_version"].string_value = new_version
    pushed.custom_properties[ROLLBACK_OF].string_value = to_version

    contexts = []
    pipeline_context = store.get_context_by_type_and_name(PIPELINE_CONTEXT, config.pipeline_name)
    if pipeline_context is None:  # lineage() found a push, so this cannot happen
        raise LookupError(f"no pipeline context {config.pipeline_name!r} in ML Metadata")
    contexts.append(pipeline_context)
    run_type = store.get_context_type(RUN_CONTEXT)
    contexts.append(metadata_store_pb2.Context(type_id=run_type.id, name=run_name))

    # One transaction: the execution, the new artifact, all three events and the
    # context links appear together or not at all. Existing artifacts and contexts
    # are passed back unchanged (with their ids), which MLMD treats as a no-op update.
    execution_id, artifact_ids, _ = store.put_execution(
        execution,
        [
            (source, _event(metadata_store_pb2.Event.INPUT, SOURCE_PUSHED_MODEL_KEY)),
            (model, _event(metadata_store_pb2.Event.INPUT, MODEL_KEY)),
            (pushed, _event(metadata_store_pb2.Event.OUTPUT, PUSHED_MODEL_KEY)),
        ],
        contexts,
        force_reuse_context=True,
    )
    return run_name, execution_id, artifact_ids[2]


def _check_target(
    store: mlmd.MetadataStore,
    config: PipelineConfig,
    recorded: dict[str, metadata_store_pb2.Artifact],
    served: str | None,
    to_version: str,
) -> lineage_lib.PushOrigin:
    """The origin of the version to republish; ValueError if it may not be served again."""
    if to_version not in recorded:
        if (config.push_dir / to_version).is_dir():
            raise ValueError(
                f"Version {to_version} was never blessed: {config.push_dir / to_version} "
                "exists but ML Metadata has no push of it by the pipeline, so no "
                "Evaluator blessing vouches for it."
            )
        known = ", ".join(sorted(recorded, key=int)) or "none"
        raise ValueError(
            f"Version {to_version} does not exist: model {config.model_name!r} has no "
            f"pushed version of that name (pushed versions: {known})."
        )
    origin = lineage_lib.trace_push(store, recorded[to_version])
    if not lineage_lib.is_blessed(store, origin):
        raise ValueError(
            f"Version {to_version} was never blessed: the Evaluator's blessing of its "
            "model is missing or negative, so it may not be served again."
        )
    if served is not None and (
        to_version == served
        or lineage_lib.trace_push(store, recorded[served]).model.id == origin.model.id
    ):
        raise ValueError(
            f"Version {to_version} is already served: version {served} holds the same model."
        )
    return origin


def rollback(
    store: mlmd.MetadataStore, config: PipelineConfig, to_version: str | None = None
) -> RollbackResult:
    """Republishes an earlier pushed, blessed version as the newest version.

    Args:
        store: The metadata store.
        config: The pipeline config (pipeline name, ``push_dir``).
        to_version: The version to republish; default: the newest version older
            than the served one that holds a different, blessed model.

    Returns:
        What was done.

    Raises:
        ValueError: If the version does not exist, was never pushed by the pipeline
            or never blessed, is the one already served, or its files are gone;
            nothing is written then.
    """
    recorded = lineage_lib.pushed_models(store, config)
    served = lineage_lib.served_version(store, config)
    if to_version is None:
        to_version = _default_target(store, config, served, recorded)
    to_version = str(to_version)
    origin = _check_target(store, config, recorded, served, to_version)
    source_dir = _source_dir(config, to_version, origin.model)

    new_version = _new_version(config)
    destination = serving_dir.publish_copy(source_dir, config.push_dir, new_version)
    try:
        run_name, execution_id, pushed_id = _record(
            store,
            config,
            source=recorded[to_version],
            model=origin.model,
            from_version=served,
            to_version=to_version,
            new_version=new_version,
            destination=destination,
        )
    except BaseException:
        # Unrecorded versions would be served with no lineage: withdraw the copy.
        serving_dir.withdraw(config.push_dir, new_version)
        raise
    return RollbackResult(
        pipeline_name=config.pipeline_name,
        model_name=config.model_name,
        from_version=served,
        to_version=to_version,
        new_version=new_version,
        destination=str(destination),
        source_dir=str(source_dir),
        run_id=run_name,
        execution_id=execution_id,
        pushed_model_id=pushed_id,
        model_uri=origin.model.uri,
    )
