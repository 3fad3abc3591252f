"""Republish a previously pushed, blessed model as the newest serving version.

TF Serving serves the highest numeric subdirectory of the model's directory, so a
rollback is a new, higher version holding a byte-identical copy of the old one. The
copy is made in a hidden (non-numeric) directory next to the versions and renamed
into place, so TF Serving never sees a half-copied version. The rollback is recorded
in ML Metadata as its own execution, in its own ``rollback-...`` run, linking the
source PushedModel and Model to a new PushedModel, so that ``lineage`` of the new
version leads back to the original model's data, training and evaluation.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import shutil
import time
from pathlib import Path

import ml_metadata as mlmd
from ml_metadata.proto import metadata_store_pb2

from pipeline.ops import summary
from pipeline.config import PipelineConfig
from pipeline.ops import lineage as lineage_lib
from pipeline.ops.lineage import (
    MODEL_KEY,
    PUSHED_MODEL,
    PUSHED_MODEL_KEY,
    ROLLBACK_OF,
    ROLLBACK_TYPE,
    SOURCE_PUSHED_MODEL_KEY,
)

TEMP_PREFIX = ".tmp-"
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


def _copy_file(source: str, target: str) -> str:
    # copytree's copy_function: copy, then fsync so the bytes are on disk before the
    # rename publishes the directory (a crash must not leave an empty saved_model.pb).
    shutil.copy2(source, target)
    with open(target, "rb") as handle:
        os.fsync(handle.fileno())
    return target


def _fsync_dir(path: Path) -> None:
    # Directory entries (new files, the rename) are durable only once the directory
    # itself is synced; not every platform lets you open a directory.
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def publish_copy(source: Path, push_dir: Path, version: str) -> Path:
    """Copies a model directory to ``push_dir/version`` atomically.

    The copy goes to ``push_dir/.tmp-<version>`` (not numeric, so TF Serving ignores
    it), is fsynced, and is then renamed to ``push_dir/<version>``: on one file
    system the rename is atomic, so the version appears complete or not at all.

    Args:
        source: The model directory (a SavedModel) to copy.
        push_dir: The model's serving directory.
        version: The new numeric version.

    Returns:
        The new version directory.

    Raises:
        FileExistsError: If the version directory already exists.
        OSError: If copying fails; the temp directory is removed first.
    """
    target = push_dir / version
    temp = push_dir / f"{TEMP_PREFIX}{version}"
    if target.exists():
        raise FileExistsError(f"version directory {target} already exists")
    push_dir.mkdir(parents=True, exist_ok=True)
    if temp.exists():  # left by a crashed rollback to the same version number
        shutil.rmtree(temp)
    try:
        shutil.copytree(source, temp, copy_function=_copy_file)
        for directory, _, _ in os.walk(temp, topdown=False):
            _fsync_dir(Path(directory))
        os.rename(temp, target)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    _fsync_dir(push_dir)
    return target


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
    pipeline_context = store.get_context_by_type_and_name(
        summary.PIPELINE_CONTEXT, config.pipeline_name
    )
    if pipeline_context is None:  # lineage() found a push, so this cannot happen
        raise LookupError(f"no pipeline context {config.pipeline_name!r} in ML Metadata")
    contexts.append(pipeline_context)
    run_type = store.get_context_type(summary.RUN_CONTEXT)
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
    source = recorded[to_version]
    origin = lineage_lib.trace_push(store, source)
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
    source_dir = _source_dir(config, to_version, origin.model)

    new_version = _new_version(config)
    destination = publish_copy(source_dir, config.push_dir, new_version)
    try:
        run_name, execution_id, pushed_id = _record(
            store,
            config,
            source=source,
            model=origin.model,
            from_version=served,
            to_version=to_version,
            new_version=new_version,
            destination=destination,
        )
    except BaseException:
        # Unrecorded versions would be served with no lineage: withdraw the copy
        # (renamed out of the numeric namespace first, so it disappears at once).
        withdrawn = config.push_dir / f"{TEMP_PREFIX}{new_version}"
        os.rename(destination, withdrawn)
        shutil.rmtree(withdrawn, ignore_errors=True)
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


def format_rollback(result: RollbackResult) -> str:
    """Renders a rollback for people.

    Args:
        result: The rollback.

    Returns:
        A few lines: what is served now, where it came from, where it is recorded.
    """
    previous = result.from_version or "nothing"
    return "\n".join(
        [
            f"Rolled back model {result.model_name!r} of pipeline {result.pipeline_name!r}: "
            f"version {result.new_version} now serves the model of version "
            f"{result.to_version} (was serving {previous}).",
            f"  copied:   {result.source_dir} -> {result.destination}",
            f"  model:    {result.model_uri}",
            f"  recorded: ML Metadata run {result.run_id} (Rollback execution "
            f"{result.execution_id}, PushedModel {result.pushed_model_id})",
        ]
    )
