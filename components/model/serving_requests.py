"""Prediction requests for the model's two serving signatures, as protos and as REST JSON.

The model answers on two signatures (:mod:`components.model.exporter`):
``serving_default`` takes serialized ``tf.Example`` strings (input ``examples``) and
``serving_raw`` takes one ``[batch]`` tensor per raw feature. This module turns raw
rows (column -> value, e.g. a CSV row or an eval ``tf.Example``) into what TF Serving
takes for either signature:

- a ``tensorflow.serving.PredictRequest`` (gRPC's ``Predict``, and the requests of a
  version's warm-up file, :mod:`components.warmup`);
- a REST ``:predict`` body in TF Serving's row format (``{"signature_name": ...,
  "instances": [...]}``), following tensorflow_serving/g3doc/api_rest.md: serialized
  examples as ``{"b64": ...}`` objects, integers as JSON integers, floats as JSON
  numbers, strings as JSON strings.

Values are typed by the model's raw inputs (:func:`signature_inputs` reads them from a
SavedModel's ``serving_raw`` signature, :func:`schema_inputs` from the curated schema),
so a CSV cell ``"3"`` becomes an int64 for ``position`` and a float32 for ``price``.
"""

from __future__ import annotations

import base64
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import tensorflow as tf
from google.protobuf import text_format
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow_serving.apis import predict_pb2

from components.model.exporter import RAW_SIGNATURE, SERVING_SIGNATURE
from components.model.features import FeatureSpec

# serving_default's one input: a [batch] string tensor of serialized tf.Examples.
EXAMPLES_INPUT = "examples"
SIGNATURES = (SERVING_SIGNATURE, RAW_SIGNATURE)

# A typed value: int (int64), float (float32), bytes (string), or None when missing.
Value = int | float | bytes | None
Row = Mapping[str, Any]
TypedRow = dict[str, Value]


class RequestError(ValueError):
    """A row cannot become a request for the signature (a bad or missing value)."""


def signature_inputs(saved_model_dir: str | os.PathLike[str]) -> dict[str, tf.dtypes.DType]:
    """Reads the raw features and their dtypes from a SavedModel's ``serving_raw`` signature.

    Only ``saved_model.pb`` is parsed (the model is not loaded), so this is cheap
    enough for the Pusher and the client.

    Args:
        saved_model_dir: A SavedModel directory (a pushed version or the Trainer's export).

    Returns:
        Feature name -> dtype (``int64``, ``float32`` or ``string``), sorted by name.

    Raises:
        RequestError: If the SavedModel has no ``serving_raw`` signature.
        OSError: If ``saved_model.pb`` cannot be read.
    """
    path = os.path.join(os.fspath(saved_model_dir), "saved_model.pb")
    saved_model = saved_model_pb2.SavedModel()
    with open(path, "rb") as handle:
        saved_model.ParseFromString(handle.read())
    for meta_graph in saved_model.meta_graphs:
        if RAW_SIGNATURE in meta_graph.signature_def:
            inputs = meta_graph.signature_def[RAW_SIGNATURE].inputs
            return {name: tf.dtypes.as_dtype(inputs[name].dtype) for name in sorted(inputs)}
    raise RequestError(
        f"{path} has no {RAW_SIGNATURE!r} signature, which names the model's raw features "
        "and their types; export the model with components/model/exporter.py"
    )


def saved_model_signatures(saved_model_dir: str | os.PathLike[str]) -> list[str]:
    """The serving signatures (of :data:`SIGNATURES`) a SavedModel has, read from its proto.

    Args:
        saved_model_dir: A SavedModel directory.

    Returns:
        The names present, in :data:`SIGNATURES` order.
    """
    saved_model = saved_model_pb2.SavedModel()
    with open(os.path.join(os.fspath(saved_model_dir), "saved_model.pb"), "rb") as handle:
        saved_model.ParseFromString(handle.read())
    present = {name for graph in saved_model.meta_graphs for name in graph.signature_def}
    return [name for name in SIGNATURES if name in present]


def schema_inputs(
    schema_file: str | os.PathLike[str], spec: FeatureSpec
) -> dict[str, tf.dtypes.DType]:
    """The model's raw features and dtypes from the curated schema, as Transform reads it.

    A client talking to a remote TF Serving has no SavedModel to read; the schema the
    pipeline trained with types the same features (TFT's ``schema_as_feature_spec``,
    which ``raw_feature_spec`` uses too).

    Args:
        schema_file: The ``schema.pbtxt`` of the config (``schema_file``).
        spec: The feature spec (its ``model_features`` are the inputs).

    Returns:
        Feature name -> dtype, sorted by name.

    Raises:
        RequestError: If the file does not parse or lacks a model feature.
    """
    from tensorflow_metadata.proto.v0 import schema_pb2
    from tensorflow_transform.tf_metadata import schema_utils

    schema = schema_pb2.Schema()
    try:
        with open(schema_file, encoding="utf-8") as handle:
            text_format.Parse(handle.read(), schema)
    except text_format.ParseError as err:
        raise RequestError(
            f"schema {schema_file} is not a text-format tensorflow_metadata Schema: {err}"
        ) from err
    feature_spec = schema_utils.schema_as_feature_spec(schema).feature_spec
    missing = sorted(set(spec.model_features) - set(feature_spec))
    if missing:
        raise RequestError(
            f"schema {schema_file} has no feature {missing}, which the config's features "
            "section names as model inputs"
        )
    return {name: feature_spec[name].dtype for name in sorted(spec.model_features)}


def _typed(value: Any, dtype: tf.dtypes.DType, where: str) -> Value:
    """One cell as its input's Python type; None for a missing value (empty cell)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, (list, tuple, np.ndarray)):
        raise RequestError(f"{where}: one value per feature, got {value!r}")
    if dtype == tf.string:
        if isinstance(value, bytes):
            return value
        return str(value).encode("utf-8")
    try:
        if isinstance(value, bool):
            raise ValueError("a boolean")
        if dtype.is_integer:
            if isinstance(value, (float, np.floating)) and not float(value).is_integer():
                raise ValueError("not integral")
            return int(value.strip() if isinstance(value, str) else value)
        number = float(value)
    except (TypeError, ValueError) as err:
        kind = "an integer" if dtype.is_integer else "a number"
        raise RequestError(
            f"{where}: {value!r} is not {kind} (the model takes {dtype.name})"
        ) from err
    return number


def typed_rows(rows: Sequence[Row], inputs: Mapping[str, tf.dtypes.DType]) -> list[TypedRow]:
    """Types each row's model features by the inputs; other columns are dropped.

    Args:
        rows: Column -> value (strings from a CSV, or numbers and bytes).
        inputs: Feature -> dtype (:func:`signature_inputs` or :func:`schema_inputs`).

    Returns:
        Feature -> int, float, bytes, or None where the row has no value.

    Raises:
        RequestError: Naming the row (0-based) and column of a value of the wrong type.
    """
    return [
        {
            name: _typed(row.get(name), dtype, f"row {index} column {name!r}")
            for name, dtype in inputs.items()
        }
        for index, row in enumerate(rows)
    ]


def to_example(row: TypedRow) -> tf.train.Example:
    """One typed row as a ``tf.Example``; a missing value is left out (parsed as absent).

    Args:
        row: From :func:`typed_rows`.

    Returns:
        The example.
    """
    example = tf.train.Example()
    for name, value in row.items():
        feature = example.features.feature[name]
        if value is None:
            del example.features.feature[name]
        elif isinstance(value, bytes):
            feature.bytes_list.value.append(value)
        elif isinstance(value, int):
            feature.int64_list.value.append(value)
        else:
            feature.float_list.value.append(value)
    return example


def _columns(
    rows: Sequence[TypedRow], inputs: Mapping[str, tf.dtypes.DType]
) -> dict[str, list[Value]]:
    """The raw signature's columns; every row needs a value for every feature."""
    columns: dict[str, list[Value]] = {name: [] for name in inputs}
    for index, row in enumerate(rows):
        for name in inputs:
            if row.get(name) is None:
                raise RequestError(
                    f"row {index} has no value for {name!r}; {RAW_SIGNATURE} takes one value "
                    f"per feature (send it to {SERVING_SIGNATURE}, whose tf.Examples may "
                    "leave a feature out)"
                )
            columns[name].append(row[name])
    return columns


def _check(rows: Sequence[TypedRow], signature: str) -> None:
    if signature not in SIGNATURES:
        raise RequestError(f"signature {signature!r} is not one of {', '.join(SIGNATURES)}")
    if not rows:
        raise RequestError("no rows to send: a request needs at least one instance")


def input_arrays(
    rows: Sequence[TypedRow], inputs: Mapping[str, tf.dtypes.DType], signature: str
) -> dict[str, np.ndarray]:
    """The signature's inputs as numpy arrays (what a local SavedModel call takes).

    Args:
        rows: From :func:`typed_rows`.
        inputs: Feature -> dtype.
        signature: ``serving_default`` or ``serving_raw``.

    Returns:
        Input name -> ``[len(rows)]`` array of the input's dtype.

    Raises:
        RequestError: On an unknown signature, no rows, or (``serving_raw``) a missing value.
    """
    _check(rows, signature)
    if signature == SERVING_SIGNATURE:
        serialized = [to_example(row).SerializeToString() for row in rows]
        return {EXAMPLES_INPUT: np.array(serialized, dtype=object)}
    # Strings stay Python bytes (object arrays), as TensorFlow takes them.
    return {
        name: np.array(
            values, dtype=object if inputs[name] == tf.string else inputs[name].as_numpy_dtype
        )
        for name, values in _columns(rows, inputs).items()
    }


def predict_request(
    rows: Sequence[TypedRow],
    inputs: Mapping[str, tf.dtypes.DType],
    signature: str,
    model_name: str = "",
    version: int | None = None,
    label: str | None = None,
) -> predict_pb2.PredictRequest:
    """A ``PredictRequest`` for one signature (gRPC ``Predict``, or a warm-up record).

    Args:
        rows: From :func:`typed_rows`.
        inputs: Feature -> dtype.
        signature: ``serving_default`` or ``serving_raw``.
        model_name: ``model_spec.name`` (TF Serving's model name; warm-up leaves it empty).
        version: ``model_spec.version``; None for the server's choice.
        label: ``model_spec.version_label`` (``stable``, ``canary``); not with ``version``.

    Returns:
        The request, one ``[len(rows)]`` tensor per input.

    Raises:
        RequestError: On an unknown signature, no rows, a missing raw value, or both a
            version and a label.
    """
    if version is not None and label:
        raise RequestError("ask for a version or a version label, not both")
    request = predict_pb2.PredictRequest()
    request.model_spec.signature_name = signature
    if model_name:
        request.model_spec.name = model_name
    if version is not None:
        request.model_spec.version.value = version
    elif label:
        request.model_spec.version_label = label
    for name, values in input_arrays(rows, inputs, signature).items():
        dtype = tf.string if values.dtype == object else tf.dtypes.as_dtype(values.dtype)
        request.inputs[name].CopyFrom(
            tf.make_tensor_proto(values, dtype=dtype, shape=[len(values)])
        )
    return request


def _json_number(value: Value, where: str) -> int | float:
    if isinstance(value, float) and not math.isfinite(value):
        raise RequestError(f"{where}: {value!r} has no JSON number (REST needs finite values)")
    assert isinstance(value, (int, float))
    return value


def rest_body(
    rows: Sequence[TypedRow], inputs: Mapping[str, tf.dtypes.DType], signature: str
) -> dict[str, Any]:
    """A REST ``:predict`` body in TF Serving's row format.

    ``serving_default`` instances are ``{"examples": {"b64": <serialized tf.Example>}}``;
    ``serving_raw`` instances name every raw feature, with JSON integers for int64,
    numbers for float32 and strings for string features (api_rest.md, "JSON mapping").

    Args:
        rows: From :func:`typed_rows`.
        inputs: Feature -> dtype.
        signature: ``serving_default`` or ``serving_raw``.

    Returns:
        ``{"signature_name": signature, "instances": [...]}``, ready for ``json.dumps``.

    Raises:
        RequestError: On an unknown signature, no rows, a missing raw value, or a
            non-finite float (which JSON cannot carry).
    """
    _check(rows, signature)
    instances: list[dict[str, Any]] = []
    if signature == SERVING_SIGNATURE:
        for row in rows:
            serialized = to_example(row).SerializeToString()
            instances.append(
                {EXAMPLES_INPUT: {"b64": base64.b64encode(serialized).decode("ascii")}}
            )
    else:
        columns = _columns(rows, inputs)
        for index in range(len(rows)):
            instance: dict[str, Any] = {}
            for name, values in columns.items():
                value = values[index]
                where = f"row {index} column {name!r}"
                if isinstance(value, bytes):
                    try:
                        instance[name] = value.decode("utf-8")
                    except UnicodeDecodeError:  # binary strings travel as b64 objects
                        instance[name] = {"b64": base64.b64encode(value).decode("ascii")}
                else:
                    instance[name] = _json_number(value, where)
            instances.append(instance)
    return {"signature_name": signature, "instances": instances}


def rest_path(model_name: str, version: int | None = None, label: str | None = None) -> str:
    """The REST ``:predict`` path of a model, its version, or its version label.

    Args:
        model_name: TF Serving's model name.
        version: A version number, or None.
        label: A version label (``stable``, ``canary``), or None.

    Returns:
        ``/v1/models/<name>[/versions/<v>|/labels/<label>]:predict``.

    Raises:
        RequestError: If both a version and a label are given.
    """
    if version is not None and label:
        raise RequestError("ask for a version or a version label, not both")
    path = f"/v1/models/{model_name}"
    if version is not None:
        path += f"/versions/{version}"
    elif label:
        path += f"/labels/{label}"
    return path + ":predict"
