"""TFX's Pusher, made atomic for TF Serving on a local or mounted filesystem.

TFX 1.16's Pusher copies the SavedModel straight into ``<base>/<version>/`` (it
copies ``saved_model.pb`` last). TF Serving polls the base directory for numeric
version directories and may try to load one while it is still being copied. This
executor lets TFX's own Pusher push into a hidden staging directory inside the base
directory (same filesystem, and TF Serving ignores non-numeric names), fsyncs the
copy, and renames the finished version directory into place. A rename on one
filesystem is atomic, so TF Serving sees either no version or a complete one.
Blessing checks, versioning and ML Metadata records are TFX's own.
"""

from __future__ import annotations

import os
import shutil
import uuid
from typing import Any, Dict, List

from tfx import types
from tfx.components.pusher import component as pusher_component
from tfx.components.pusher import executor as pusher_executor
from tfx.dsl.components.base import executor_spec
from tfx.proto import pusher_pb2
from tfx.types import standard_component_specs
from tfx.utils import proto_utils

STAGING_PREFIX = ".staging-"


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
            input_dict: ``model`` and ``model_blessing``.
            output_dict: ``pushed_model``.
            exec_properties: ``push_destination`` (a filesystem base directory).
        """
        destination = pusher_pb2.PushDestination()
        proto_utils.json_to_proto(
            exec_properties[standard_component_specs.PUSH_DESTINATION_KEY], destination
        )
        base = destination.filesystem.base_directory
        if destination.WhichOneof("destination") != "filesystem" or "://" in base:
            # Object stores have no atomic directory rename; TFX's push as is.
            super().Do(input_dict, output_dict, exec_properties)
            return
        os.makedirs(base, exist_ok=True)
        staging = os.path.join(base, f"{STAGING_PREFIX}{uuid.uuid4().hex}")
        staged = pusher_pb2.PushDestination()
        staged.CopyFrom(destination)
        staged.filesystem.base_directory = staging
        properties = dict(exec_properties)
        properties[standard_component_specs.PUSH_DESTINATION_KEY] = proto_utils.proto_to_json(staged)
        try:
            super().Do(input_dict, output_dict, properties)
            pushed = output_dict[standard_component_specs.PUSHED_MODEL_KEY][0]
            if pushed.get_int_custom_property("pushed") != 1:
                return
            version = pushed.get_string_custom_property("pushed_version")
            final = os.path.join(base, version)
            if not os.path.exists(final):  # TFX's rule: an existing version is kept
                _fsync_tree(os.path.join(staging, version))
                os.rename(os.path.join(staging, version), final)
            pushed.set_string_custom_property("pushed_destination", final)
        finally:
            shutil.rmtree(staging, ignore_errors=True)


class AtomicPusher(pusher_component.Pusher):
    """TFX's Pusher component with :class:`AtomicPusherExecutor`."""

    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(AtomicPusherExecutor)
