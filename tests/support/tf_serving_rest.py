"""Turns a TF Serving REST ``:predict`` body (row format) into a signature's tensors.

There is no TF Serving binary here, so the tests decode request bodies the way the
model server does and call the signature in-process. The rules are TF Serving's
documented REST API (tensorflow/serving, tensorflow_serving/g3doc/api_rest.md,
"Specifying input tensors in row format", "JSON mapping" and "Encoding binary
values"):

- ``signature_name`` is optional; without it the ``serving_default`` signature is used.
- Row format: ``instances`` is a list with one item per instance, batched on the
  0-th dimension. With several named inputs, each item is an object holding every
  named input; with one named input, an item may be the input's value itself.
- The signature's input dtypes decide the conversion: JSON numbers for the integer
  and float types (an integer type takes only integral numbers), ``true``/``false``
  for ``DT_BOOL``, strings for ``DT_STRING``, and ``{"b64": "..."}`` objects for
  binary ``DT_STRING`` values (decoded from Base64).

Only the row format is implemented (the ``inputs`` columnar format is not used here).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

import numpy as np
import tensorflow as tf

DEFAULT_SIGNATURE = "serving_default"


class RestRequestError(ValueError):
    """The body is not a request TF Serving would accept for this signature."""


def _is_b64(value: Any) -> bool:
    return isinstance(value, Mapping) and set(value) == {"b64"}


def _decode(value: Any, dtype: tf.dtypes.DType, where: str) -> Any:
    if isinstance(value, list):
        return [_decode(item, dtype, where) for item in value]
    if dtype == tf.string:
        if _is_b64(value):
            return base64.b64decode(value["b64"], validate=True)
        if isinstance(value, str):
            return value.encode("utf-8")
        raise RestRequestError(
            f"{where}: expected a string or a b64 object for DT_STRING, got {value!r}"
        )
    if _is_b64(value):
        raise RestRequestError(f"{where}: a b64 object decodes only to DT_STRING, not {dtype.name}")
    if dtype == tf.bool:
        if not isinstance(value, bool):
            raise RestRequestError(f"{where}: expected true or false, got {value!r}")
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RestRequestError(f"{where}: expected a number for {dtype.name}, got {value!r}")
    if dtype.is_integer and not isinstance(value, int):  # 3.0 is a double to the server
        raise RestRequestError(f"{where}: expected an integer for {dtype.name}, got {value!r}")
    return value


def to_tensors(
    body: Mapping[str, Any], signatures: Mapping[str, Any]
) -> tuple[str, dict[str, tf.Tensor]]:
    """Decodes a row-format ``:predict`` body into the named inputs of its signature.

    Args:
        body: The parsed JSON request body.
        signatures: The SavedModel's signatures (``loaded.signatures``).

    Returns:
        ``(signature name, input name -> tensor)``, ready for
        ``signatures[name](**tensors)``.

    Raises:
        RestRequestError: On anything TF Serving would reject: an unknown signature,
            no ``instances`` list, missing or unknown named inputs, or a value that
            does not match its input's dtype.
    """
    name = body.get("signature_name", DEFAULT_SIGNATURE)
    if name not in signatures:
        raise RestRequestError(f"signature {name!r} not found; have {sorted(signatures)}")
    instances = body.get("instances")
    if not isinstance(instances, list) or not instances:
        raise RestRequestError("row format needs a non-empty 'instances' list")
    inputs: dict[str, tf.TensorSpec] = dict(signatures[name].structured_input_signature[1])
    columns: dict[str, list[Any]] = {key: [] for key in inputs}
    for index, instance in enumerate(instances):
        named = isinstance(instance, Mapping) and not _is_b64(instance)
        if not named:
            if len(inputs) != 1:
                raise RestRequestError(
                    f"instance {index}: the signature has {len(inputs)} named inputs, so each "
                    "instance must be an object naming them"
                )
            instance = {next(iter(inputs)): instance}
        missing, unknown = set(inputs) - set(instance), set(instance) - set(inputs)
        if missing or unknown:
            raise RestRequestError(
                f"instance {index}: missing inputs {sorted(missing)}, "
                f"unknown inputs {sorted(unknown)}"
            )
        for key, spec in inputs.items():
            columns[key].append(
                _decode(instance[key], spec.dtype, f"instance {index} input {key!r}")
            )
    tensors = {}
    for key, spec in inputs.items():
        values = np.array(
            columns[key], dtype=object if spec.dtype == tf.string else spec.dtype.as_numpy_dtype
        )
        if not spec.shape.is_compatible_with(values.shape):
            raise RestRequestError(f"input {key!r}: shape {values.shape} does not fit {spec.shape}")
        tensors[key] = tf.constant(values, dtype=spec.dtype)
    return name, tensors
