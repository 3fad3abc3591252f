"""TFX's Pusher, made atomic for TF Serving on a local or mounted filesystem.

TFX 1.16's Pusher copies the SavedModel straight into ``<base>/<version>/`` (it
copies ``saved_model.pb`` last). TF Serving polls the base directory for numeric
version directories and may try to load one while it is still being copied. This
executor lets TFX's own Pusher push into a hidden staging directory inside the base
directory (same filesystem, and TF Serving ignores non-numeric names), fsyncs the
copy, and renames the finished version directory into place. A rename on one
filesystem is atomic, so TF Serving sees either no version or a complete one.
Blessing checks, versioning and ML Metadata records are TFX's own.

With the optional ``tflite_model`` input (the ``TFLiteConverter`` node's output),
``model.tflite`` is copied into the staged version directory before the rename when
the model is blessed and the TFLite model is within its metric bound, so a version
directory has it complete or not at all. TF Serving loads ``saved_model.pb`` and
``variables/`` and ignores other files in a version directory. The PushedModel
records ``tflite_pushed`` (1 or 0) and ``tflite_reason``.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import socket
import uuid
from typing import Any, Dict, List

from tfx import types
from tfx.components.pusher import component as pusher_component
from tfx.components.pusher import executor as pusher_executor
from tfx.dsl.components.base import base_component, executor_spec
from tfx.proto import pusher_pb2
from tfx.types import standard_artifacts, standard_component_specs
from tfx.types.component_spec import ChannelParameter
from tfx.utils import json_utils, proto_utils

from components.tflite import TFLITE_FILE, TFLiteModel

STAGING_PREFIX = ".staging-"
TFLITE_MODEL_KEY = "tflite_model"
TFLITE_PUSHED = "tflite_pushed"
TFLITE_REASON = "tflite_reason"


def _fsync_tree(root: str) -> None:
    for directory, _, files in os.walk(root):
        for name in files:
            with open(os.path.join(directory, name), "rb") as handle:
                os.fsync(handle.fileno())
        descriptor = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def _publish(staged_version: str, final: str) -> bool:
    """Renames a staged version into place; False if another push created it first.

    Two runs sharing a serving dir (MySQL metadata takes concurrent runs) can push in
    the same second, so both pass the "version exists?" check. rename(2) onto a
    non-empty directory fails (ENOTEMPTY; EEXIST on some filesystems), and the other
    push's version directory is complete (it was renamed into place too): it is kept,
    TFX's rule for an existing version, and this push is recorded against it.
    """
    try:
        os.rename(staged_version, final)
    except OSError as err:
        if err.errno in (errno.ENOTEMPTY, errno.EEXIST) and os.path.isdir(final):
            logging.warning("Version %s was pushed concurrently by another run; kept it", final)
            return False
        raise
    return True


def _tflite_decision(
    input_dict: Dict[str, List[types.Artifact]],
) -> tuple[types.Artifact | None, str]:
    """Returns the TFLite artifact to push (or None) and the reason, from its verdict."""
    artifact = input_dict[TFLITE_MODEL_KEY][0]
    within = artifact.get_int_custom_property("within_bound") == 1
    reason = artifact.get_string_custom_property("reason")
    path = os.path.join(artifact.uri, TFLITE_FILE)
    if not within:
        return None, f"refused: {reason}"
    if not os.path.isfile(path):
        return None, f"refused: {path} does not exist"
    return artifact, f"pushed ({os.path.getsize(path)} bytes): {reason}"


def staging_name() -> str:
    """A staging directory name naming its owner: ``.staging-<host>-<pid>-<uuid>``.

    Returns:
        The name (TF Serving ignores it: not a number).
    """
    return f"{STAGING_PREFIX}{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex}"


def remove_dead_staging(base: str) -> list[str]:
    """Removes staging directories left by pushes whose process died on this host.

    A push killed between its copy and its rename (SIGKILL, OOM, power cut) leaves
    its staging directory behind; TF Serving ignores it, but it holds a whole
    model. One whose owner is another host's process, or alive, is left alone.

    Args:
        base: The serving base directory.

    Returns:
        The directories removed.
    """
    host = socket.gethostname()
    removed = []
    for name in os.listdir(base):
        if not name.startswith(STAGING_PREFIX):
            continue
        owner_host, _, rest = name[len(STAGING_PREFIX):].rpartition("-")[0].rpartition("-")
        if owner_host != host or not rest.isdigit() or _pid_alive(int(rest)):
            continue
        shutil.rmtree(os.path.join(base, name), ignore_errors=True)
        removed.append(name)
    return removed


def _pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            state = handle.read().rpartition(")")[2].split()[0]
        return state not in ("Z", "X")  # a killed, unreaped process is dead
    except FileNotFoundError:
        return False
    except OSError:  # no /proc: does the pid exist?
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass
        return True


class AtomicPusherExecutor(pusher_executor.Executor):
    """TFX's Pusher executor, pushing through a staging directory and a rename."""

    def Do(  # noqa: N802 - TFX's executor interface
        self,
        input_dict: Dict[str, List[types.Artifact]],
        output_dict: Dict[str, List[types.Artifact]],
        exec_properties: Dict[str, Any],
    ) -> None:
        """Pushes the model if blessed, atomically for filesystem destinations.

        Args:
            input_dict: ``model``, ``model_blessing`` and optionally ``tflite_model``.
            output_dict: ``pushed_model``.
            exec_properties: ``push_destination`` (a filesystem base directory).
        """
        has_tflite = bool(input_dict.get(TFLITE_MODEL_KEY))
        destination = pusher_pb2.PushDestination()
        proto_utils.json_to_proto(
            exec_properties[standard_component_specs.PUSH_DESTINATION_KEY], destination
        )
        base = destination.filesystem.base_directory
        if destination.WhichOneof("destination") != "filesystem" or "://" in base:
            # Object stores have no atomic directory rename; TFX's push as is
            # (without model.tflite, which needs the staged version directory).
            super().Do(input_dict, output_dict, exec_properties)
            if has_tflite:
                self._mark_tflite(output_dict, False, "not pushed: not a local filesystem destination")
            return
        os.makedirs(base, exist_ok=True)
        remove_dead_staging(base)
        staging = os.path.join(base, staging_name())
        staged = pusher_pb2.PushDestination()
        staged.CopyFrom(destination)
        staged.filesystem.base_directory = staging
        properties = dict(exec_properties)
        properties[standard_component_specs.PUSH_DESTINATION_KEY] = proto_utils.proto_to_json(staged)
        try:
            super().Do(input_dict, output_dict, properties)
            pushed = output_dict[standard_component_specs.PUSHED_MODEL_KEY][0]
            if pushed.get_int_custom_property("pushed") != 1:
                if has_tflite:
                    self._mark_tflite(output_dict, False, "not pushed: the model was not blessed")
                return
            version = pushed.get_string_custom_property("pushed_version")
            final = os.path.join(base, version)
            if not os.path.exists(final):  # TFX's rule: an existing version is kept
                staged_version = os.path.join(staging, version)
                if has_tflite:
                    tflite, reason = _tflite_decision(input_dict)
                    if tflite is not None:
                        # Into the staged version, before the rename: all or nothing.
                        source = os.path.join(tflite.uri, TFLITE_FILE)
                        shutil.copyfile(source, os.path.join(staged_version, TFLITE_FILE))
                        shutil.copyfile(source, os.path.join(pushed.uri, TFLITE_FILE))
                    self._mark_tflite(output_dict, tflite is not None, reason)
                _fsync_tree(staged_version)
                if not _publish(staged_version, final) and has_tflite:
                    self._mark_tflite(output_dict, False, f"not pushed: version {final} already existed")
            elif has_tflite:
                self._mark_tflite(output_dict, False, f"not pushed: version {final} already existed")
            pushed.set_string_custom_property("pushed_destination", final)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    @staticmethod
    def _mark_tflite(output_dict: Dict[str, List[types.Artifact]], pushed: bool, reason: str) -> None:
        artifact = output_dict[standard_component_specs.PUSHED_MODEL_KEY][0]
        artifact.set_int_custom_property(TFLITE_PUSHED, int(pushed))
        artifact.set_string_custom_property(TFLITE_REASON, reason)


class AtomicPusherSpec(standard_component_specs.PusherSpec):
    """TFX's PusherSpec plus an optional ``tflite_model`` input."""

    INPUTS = {
        **standard_component_specs.PusherSpec.INPUTS,
        TFLITE_MODEL_KEY: ChannelParameter(type=TFLiteModel, optional=True),
    }


class AtomicPusher(pusher_component.Pusher):
    """TFX's Pusher component with :class:`AtomicPusherExecutor` and an optional TFLite input."""

    SPEC_CLASS = AtomicPusherSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(AtomicPusherExecutor)

    def __init__(
        self,
        model: types.BaseChannel,
        model_blessing: types.BaseChannel,
        push_destination: pusher_pb2.PushDestination,
        tflite_model: types.BaseChannel | None = None,
    ) -> None:
        """Builds the Pusher with :class:`AtomicPusherSpec`.

        TFX's ``Pusher.__init__`` hard-codes ``PusherSpec``; this builds the same
        spec (same exec properties, so the cache key is unchanged) with the extra
        input, and initialises the component from it.

        Args:
            model: The Trainer's model.
            model_blessing: The Evaluator's blessing.
            push_destination: Where TF Serving watches for versions.
            tflite_model: The ``TFLiteConverter``'s output; None when TFLite is off.
        """
        spec = AtomicPusherSpec(
            model=model,
            model_blessing=model_blessing,
            infra_blessing=None,
            push_destination=push_destination,
            custom_config=json_utils.dumps(None),
            pushed_model=types.Channel(type=standard_artifacts.PushedModel),
            tflite_model=tflite_model,
        )
        base_component.BaseComponent.__init__(self, spec=spec)
