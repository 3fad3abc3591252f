"""TFX's Pusher, made atomic for TF Serving on a local or mounted filesystem.

TFX 1.16's Pusher copies the SavedModel straight into ``<base>/<version>/`` (it
copies ``saved_model.pb`` last). TF Serving polls the base directory for numeric
version directories and may try to load one while it is still being copied. This
executor lets TFX's own Pusher push into a hidden staging directory inside the base
directory, then publishes it with :mod:`components.serving_dir` (fsync, one atomic
rename, an existing version kept), so TF Serving sees either no version or a
complete one. Blessing checks, versioning and ML Metadata records are TFX's own.

With the optional ``tflite_model`` input (the ``TFLiteConverter`` node's output),
``model.tflite`` is copied into the staged version directory before the rename when
the model is blessed and the TFLite model is within its metric bound, so a version
directory has it complete or not at all. TF Serving loads ``saved_model.pb`` and
``variables/`` and ignores other files in a version directory. The PushedModel
records ``tflite_pushed`` (1 or 0) and ``tflite_reason``.

With the optional ``examples`` input (ExampleGen's output: the newest span), TF
Serving's warm-up requests (``assets.extra/tf_serving_warmup_requests``, built from
eval rows for both signatures by :mod:`components.warmup`) are written into the
staged version directory before the rename as well. The PushedModel records
``warmup_requests`` (how many) and ``warmup_reason``.

After a blessed version is published, TF Serving's model config file
(``<serving_dir>/models.config``, :mod:`components.serving_config`) labels it
``stable`` or ``canary`` (the ``push_label`` exec property, from ``serving.push_label``),
and the PushedModel records the label it got as ``label``.
"""

from __future__ import annotations

import os
import shutil
from typing import Any

from tfx import types
from tfx.components.pusher import component as pusher_component
from tfx.components.pusher import executor as pusher_executor
from tfx.dsl.components.base import base_component, executor_spec
from tfx.proto import pusher_pb2
from tfx.types import standard_artifacts, standard_component_specs
from tfx.types.component_spec import ChannelParameter, ExecutionParameter
from tfx.utils import json_utils, proto_utils

from components import serving_config, serving_dir, warmup
from components.tflite import TFLITE_FILE, TFLiteModel

TFLITE_MODEL_KEY = "tflite_model"
TFLITE_PUSHED = "tflite_pushed"
TFLITE_REASON = "tflite_reason"
EXAMPLES_KEY = standard_component_specs.EXAMPLES_KEY
WARMUP_REQUESTS = "warmup_requests"
WARMUP_REASON = "warmup_reason"
PUSH_LABEL_KEY = "push_label"


def _tflite_decision(
    input_dict: dict[str, list[types.Artifact]],
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


class AtomicPusherExecutor(pusher_executor.Executor):
    """TFX's Pusher executor, pushing through a staging directory and a rename."""

    def Do(  # noqa: N802 - TFX's executor interface
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        """Pushes the model if blessed, atomically for filesystem destinations.

        Args:
            input_dict: ``model``, ``model_blessing`` and optionally ``tflite_model``
                and ``examples``.
            output_dict: ``pushed_model``.
            exec_properties: ``push_destination`` (a filesystem base directory) and
                ``push_label`` (``stable`` or ``canary``; default ``stable``).
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
                self._mark_tflite(
                    output_dict, False, "not pushed: not a local filesystem destination"
                )
            return
        with serving_dir.staging(base) as staging:
            staged = pusher_pb2.PushDestination()
            staged.CopyFrom(destination)
            staged.filesystem.base_directory = str(staging)
            properties = dict(exec_properties)
            properties[standard_component_specs.PUSH_DESTINATION_KEY] = proto_utils.proto_to_json(
                staged
            )
            super().Do(input_dict, output_dict, properties)
            pushed = output_dict[standard_component_specs.PUSHED_MODEL_KEY][0]
            if pushed.get_int_custom_property("pushed") != 1:
                if has_tflite:
                    self._mark_tflite(output_dict, False, "not pushed: the model was not blessed")
                return
            version = pushed.get_string_custom_property("pushed_version")
            final = os.path.join(base, version)
            if not os.path.exists(final):  # TFX's rule: an existing version is kept
                self._publish(input_dict, output_dict, os.path.join(staging, version), final)
            elif has_tflite:
                self._mark_tflite(
                    output_dict, False, f"not pushed: version {final} already existed"
                )
            pushed.set_string_custom_property("pushed_destination", final)
            # Published (by this push or a concurrent one): now TF Serving may load it.
            label = serving_config.label_push(
                base, version, exec_properties.get(PUSH_LABEL_KEY) or serving_config.STABLE
            )
            pushed.set_string_custom_property(serving_config.LABEL_PROPERTY, label)

    def _publish(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        staged_version: str,
        final: str,
    ) -> None:
        """Adds ``model.tflite`` to the staged version if due, and publishes it.

        If another push created the version first, that complete version is kept and
        this push is recorded against it (``pushed_destination`` names it all the same).
        """
        has_tflite = bool(input_dict.get(TFLITE_MODEL_KEY))
        if has_tflite:
            tflite, reason = _tflite_decision(input_dict)
            if tflite is not None:
                # Into the staged version, before the rename: all or nothing.
                source = os.path.join(tflite.uri, TFLITE_FILE)
                pushed = output_dict[standard_component_specs.PUSHED_MODEL_KEY][0]
                shutil.copyfile(source, os.path.join(staged_version, TFLITE_FILE))
                shutil.copyfile(source, os.path.join(pushed.uri, TFLITE_FILE))
            self._mark_tflite(output_dict, tflite is not None, reason)
        if input_dict.get(EXAMPLES_KEY):
            # Into the staged version, before the rename: TF Serving runs them on load.
            pushed = output_dict[standard_component_specs.PUSHED_MODEL_KEY][0]
            count, reason = warmup.add_to_version(
                staged_version, input_dict[EXAMPLES_KEY][0], also_to=[pushed.uri]
            )
            pushed.set_int_custom_property(WARMUP_REQUESTS, count)
            pushed.set_string_custom_property(WARMUP_REASON, reason)
        if not serving_dir.publish(staged_version, final) and has_tflite:
            self._mark_tflite(output_dict, False, f"not pushed: version {final} already existed")

    @staticmethod
    def _mark_tflite(
        output_dict: dict[str, list[types.Artifact]], pushed: bool, reason: str
    ) -> None:
        artifact = output_dict[standard_component_specs.PUSHED_MODEL_KEY][0]
        artifact.set_int_custom_property(TFLITE_PUSHED, int(pushed))
        artifact.set_string_custom_property(TFLITE_REASON, reason)


class AtomicPusherSpec(standard_component_specs.PusherSpec):
    """TFX's PusherSpec plus an optional ``tflite_model`` input and ``push_label``."""

    PARAMETERS = {
        **standard_component_specs.PusherSpec.PARAMETERS,
        PUSH_LABEL_KEY: ExecutionParameter(type=str, optional=True),
    }
    INPUTS = {
        **standard_component_specs.PusherSpec.INPUTS,
        TFLITE_MODEL_KEY: ChannelParameter(type=TFLiteModel, optional=True),
        EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples, optional=True),
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
        push_label: str = serving_config.STABLE,
        examples: types.BaseChannel | None = None,
    ) -> None:
        """Builds the Pusher with :class:`AtomicPusherSpec`.

        TFX's ``Pusher.__init__`` hard-codes ``PusherSpec``; this builds the same
        spec with the extra input and ``push_label`` (an exec property, so a change
        of ``serving.push_label`` is a new cache key: the next run pushes again under
        the new label), and initialises the component from it.

        Args:
            model: The Trainer's model.
            model_blessing: The Evaluator's blessing.
            push_destination: Where TF Serving watches for versions.
            tflite_model: The ``TFLiteConverter``'s output; None when TFLite is off.
            push_label: The label a blessed version gets in ``models.config``
                (``stable`` or ``canary``).
            examples: ExampleGen's output (its eval split becomes the warm-up
                requests); None for no warm-up file.
        """
        spec = AtomicPusherSpec(
            model=model,
            model_blessing=model_blessing,
            infra_blessing=None,
            push_destination=push_destination,
            custom_config=json_utils.dumps(None),
            pushed_model=types.Channel(type=standard_artifacts.PushedModel),
            tflite_model=tflite_model,
            push_label=push_label,
            examples=examples,
        )
        base_component.BaseComponent.__init__(self, spec=spec)
