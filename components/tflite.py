"""TFLite export: the raw-feature signature, Transform graph included, quantized.

The ``TFLiteConverter`` node converts the trained SavedModel's ``serving_raw``
signature (raw features in, probabilities out, the Transform layer inside) to
TensorFlow Lite with dynamic-range quantization, then measures the gate metric of
the float SavedModel and of the TFLite model (``tf.lite.Interpreter``) on the same
rows: the raw eval split of the newest span, or the Evaluator's seeded sample of it
(``evaluation.max_examples``), so both nodes judge the same rows. The TFLite file is
within bound when ``|float - tflite| <= max_metric_delta``; the node never fails
the run because of the delta (or a conversion that does not work): it records the
refusal and its reason on its ``TFLiteModel`` artifact, and the Pusher leaves
``model.tflite`` out of the version it pushes while the float SavedModel is pushed
as usual.

What conversion needs, in TensorFlow 2.16 (measured, see docs/serving.md):

- ``SELECT_TF_OPS``: the Transform graph uses ``StringToHashBucketFast`` (the
  vocabularies' OOV buckets) and ``UpperBound`` (``tft.bucketize``), and the
  model's ``HashedCrossing`` uses ``SparseCross``; TFLite has no builtin kernels for
  them. The TFLite runtime must therefore include the Flex delegate (the Python
  ``tf.lite.Interpreter`` of the ``tensorflow`` wheel does; on Android/iOS link the
  ``tensorflow-lite-select-tf-ops`` library).
- Vocabulary tables: TFLite's builtin hash tables only get initialized when the
  converter can turn ``InitializeTableFromTextFileV2`` into constants, which it only
  does for a constant file name. A TF2 SavedModel reads each asset's path from a
  variable, so the converter silently drops the initializer and every lookup fails
  at run time ("hashtable need to be initialized before using").
  :func:`saved_model_for_conversion` rewrites those reads in a copy of the
  SavedModel into constants, so the vocabularies are embedded in the ``.tflite``
  file and the on-device model needs no asset files.
"""

# No `from __future__ import annotations`: TFX reads the component signature at runtime.

import dataclasses
import glob
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2
from tfx import types
from tfx.dsl.component.experimental.annotations import InputArtifact, OutputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types import standard_artifact_utils, standard_artifacts
from tfx.utils import path_utils

from components.eval_sample import sample_records
from components.model.exporter import RAW_SIGNATURE

TFLITE_FILE = "model.tflite"
EVAL_SPLIT = "eval"
BATCH_SIZE = 1024
# TFMA computes AUC with 10,000 thresholds; the same here, so the values are close
# to the Evaluator's (the delta compares float and TFLite under one definition).
AUC_THRESHOLDS = 10_000


class TFLiteModel(types.Artifact):
    """``model.tflite`` plus what was measured about it (custom properties).

    Custom properties: ``size_bytes``, ``float_size_bytes`` (the SavedModel
    directory), ``quantized_weights`` (int8 weight tensors), ``metric``,
    ``float_value``, ``tflite_value``, ``delta`` (float minus TFLite),
    ``max_delta``, ``within_bound`` (1 or 0), ``examples`` (rows measured),
    ``seconds`` (conversion plus evaluation) and ``reason`` (why it is or is not
    within bound).
    """

    TYPE_NAME = "TFLiteModel"


@dataclasses.dataclass(frozen=True)
class Measurement:
    """The float model against its TFLite conversion on the same eval rows.

    Attributes:
        metric: The gate metric's Keras class name (e.g. ``AUC``).
        float_value: The SavedModel's value.
        tflite_value: The TFLite model's value.
        examples: Rows measured (eval rows with one value for every feature).
        skipped: Eval rows left out because a feature or the label was missing.
    """

    metric: str
    float_value: float
    tflite_value: float
    examples: int
    skipped: int

    @property
    def delta(self) -> float:
        """Float minus TFLite.

        Its sign means nothing on its own (positive is a worse TFLite model for AUC,
        a better one for an error metric): the bound is on its absolute value.
        """
        return self.float_value - self.tflite_value


def saved_model_for_conversion(saved_model_dir: str, work_dir: str) -> str:
    """Copies a SavedModel and makes its asset paths constants for the TFLite converter.

    In a TF2 SavedModel, each asset's path is fed into a variable when the model is
    loaded, and table initializers read it from there. The TFLite converter only
    embeds a vocabulary file when the initializer's file name is a constant, and
    otherwise drops the initializer without an error. This rewrites every read of
    an asset-path variable in the copy's graph into a constant holding the asset's
    absolute path in the copy.

    Args:
        saved_model_dir: The SavedModel to convert (left unchanged).
        work_dir: An empty or missing directory to write the copy to.

    Returns:
        The copy's directory.
    """
    shutil.copytree(saved_model_dir, work_dir)
    pb_path = os.path.join(work_dir, "saved_model.pb")
    saved_model = saved_model_pb2.SavedModel()
    with open(pb_path, "rb") as handle:
        saved_model.ParseFromString(handle.read())
    assets = os.path.join(os.path.abspath(work_dir), "assets")
    for meta_graph in saved_model.meta_graphs:
        placeholders = {
            asset.tensor_info.name.split(":")[0]: os.path.join(assets, asset.filename)
            for asset in meta_graph.asset_file_def
        }
        # tf.saved_model.save: AssignVariableOp(<variable>, <asset placeholder>).
        variables = {
            node.input[0]: placeholders[node.input[1]]
            for node in meta_graph.graph_def.node
            if node.op == "AssignVariableOp"
            and len(node.input) > 1
            and node.input[1] in placeholders
        }
        for node in meta_graph.graph_def.node:
            if node.op == "ReadVariableOp" and node.input and node.input[0] in variables:
                path = variables[node.input[0]]
                node.op = "Const"
                del node.input[:]
                node.ClearField("attr")
                node.attr["dtype"].type = tf.string.as_datatype_enum
                node.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(path))
    with open(pb_path, "wb") as handle:
        handle.write(saved_model.SerializeToString())
    return work_dir


def convert(saved_model_dir: str, signature: str = RAW_SIGNATURE) -> bytes:
    """Converts one signature of a SavedModel to TFLite with dynamic-range quantization.

    Dynamic-range quantization (``Optimize.DEFAULT`` without a representative
    dataset) stores weight tensors as int8 and dequantizes them at run time;
    TFLite leaves tensors with fewer than 1,024 elements in float32.

    Args:
        saved_model_dir: The Trainer's serving SavedModel.
        signature: The signature to convert.

    Returns:
        The ``.tflite`` flatbuffer.
    """
    with tempfile.TemporaryDirectory(prefix="tflite-") as scratch:
        patched = saved_model_for_conversion(saved_model_dir, os.path.join(scratch, "model"))
        converter = tf.lite.TFLiteConverter.from_saved_model(patched, signature_keys=[signature])
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_ops = [
            tf.lite.OpsSet.TFLITE_BUILTINS,
            tf.lite.OpsSet.SELECT_TF_OPS,
        ]
        return converter.convert()


def quantized_weights(tflite_model: bytes) -> int:
    """Counts the int8 tensors of a dynamic-range quantized model (its quantized weights).

    Args:
        tflite_model: The flatbuffer.

    Returns:
        How many tensors are int8.
    """
    interpreter = tf.lite.Interpreter(model_content=tflite_model)
    return sum(1 for detail in interpreter.get_tensor_details() if detail["dtype"] == np.int8)


def directory_bytes(path: str) -> int:
    """Total size of the files under a directory.

    Args:
        path: A directory (e.g. a SavedModel).

    Returns:
        Bytes.
    """
    return sum(
        os.path.getsize(os.path.join(root, name))
        for root, _, names in os.walk(path)
        for name in names
    )


def label_dtype(files: list[str], label_key: str) -> tf.dtypes.DType:
    """The label's dtype as stored: int64 class ids, or float32 for a regression.

    ``tf.io.parse_example`` needs the stored type, and the raw signature does not
    carry the label; the first example holding it tells.

    Args:
        files: Gzipped TFRecord files of raw examples.
        label_key: The label column.

    Returns:
        ``tf.float32`` for a float label, else ``tf.int64``.
    """
    for record in tf.data.TFRecordDataset(files, compression_type="GZIP"):
        feature = tf.train.Example.FromString(record.numpy()).features.feature.get(label_key)
        if feature is not None and feature.WhichOneof("kind") == "float_list":
            return tf.float32
        if feature is not None and feature.WhichOneof("kind") is not None:
            return tf.int64
    return tf.int64


def eval_batches(
    files: list[str],
    inputs: dict[str, tf.dtypes.DType],
    label_key: str,
    batch_size: int = BATCH_SIZE,
    max_examples: int = 0,
    seed: int = 0,
) -> Iterator[tuple[dict[str, np.ndarray], np.ndarray, int]]:
    """Reads raw ``tf.Example`` files as batches of single-valued features.

    Args:
        files: Gzipped TFRecord files of raw examples (an ExampleGen split).
        inputs: Feature name -> dtype (the raw signature's inputs).
        label_key: The label column: integer class ids, or numbers (regression).
        batch_size: Examples per batch.
        max_examples: Read only the Evaluator's seeded sample of this many rows
            (``evaluation.max_examples``; 0: every row).
        seed: The sample's seed (the Evaluator's).

    Yields:
        ``(features, labels, skipped)``: numpy arrays of the rows that have exactly
        one value for every feature and the label, and how many rows of the batch
        did not (the raw signature takes one value per instance).
    """
    spec = {name: tf.io.VarLenFeature(dtype) for name, dtype in inputs.items()}
    spec[label_key] = tf.io.VarLenFeature(label_dtype(files, label_key))
    dataset = tf.data.TFRecordDataset(files, compression_type="GZIP")
    if max_examples:
        # The rows the Evaluator judged: the same seeded sample, drawn in one pass.
        # In batches: one eager step per record would cost more than the sample saves.
        records = (record for batch in dataset.batch(8192) for record in batch.numpy())
        sample = sample_records(records, max_examples, seed)
        dataset = tf.data.Dataset.from_tensor_slices(tf.constant(sample, dtype=tf.string))
    dataset = dataset.batch(batch_size)
    for serialized in dataset:
        parsed = {
            name: tf.RaggedTensor.from_sparse(value)
            for name, value in tf.io.parse_example(serialized, spec).items()
        }
        complete = tf.reduce_all(
            tf.stack([value.row_lengths() == 1 for value in parsed.values()]), axis=0
        )
        rows = {
            name: tf.ragged.boolean_mask(value, complete).flat_values.numpy()
            for name, value in parsed.items()
        }
        labels = rows.pop(label_key)
        yield rows, labels, int(tf.size(complete)) - int(tf.reduce_sum(tf.cast(complete, tf.int32)))


def _metric(name: str) -> Any:
    """A fresh tf_keras metric from its class name (AUC with TFMA's threshold count)."""
    import tf_keras as keras  # Keras 2, as the model is built with

    try:
        metric = keras.metrics.get(name)
    except ValueError:
        metric = None
    if not isinstance(metric, keras.metrics.Metric):
        raise ValueError(
            f"evaluation.gate_metric {name!r} is not a Keras metric class, so the TFLite "
            "check (export.tflite) cannot compute it"
        )
    if isinstance(metric, keras.metrics.AUC):
        metric = keras.metrics.AUC(num_thresholds=AUC_THRESHOLDS)
    return metric


def measure(
    float_predict: Callable[[dict[str, np.ndarray]], np.ndarray],
    tflite_predict: Callable[[dict[str, np.ndarray]], np.ndarray],
    batches: Iterator[tuple[dict[str, np.ndarray], np.ndarray, int]],
    metric_name: str,
) -> Measurement:
    """Computes one metric for two models over the same batches.

    Args:
        float_predict: Raw features -> probabilities (``[n, 1]`` or ``[n, classes]``).
        tflite_predict: The same for the TFLite model.
        batches: From :func:`eval_batches`.
        metric_name: A Keras metric class name (the pipeline's gate metric).

    Returns:
        Both values and the row counts.
    """
    float_metric, tflite_metric = _metric(metric_name), _metric(metric_name)
    examples = skipped = 0
    for features, labels, left_out in batches:
        skipped += left_out
        if not len(labels):
            continue
        examples += len(labels)
        for metric, predict in ((float_metric, float_predict), (tflite_metric, tflite_predict)):
            probabilities = np.asarray(predict(features))
            if probabilities.shape[-1] == 1:  # binary or regression: one value per row
                probabilities = probabilities.reshape(-1)
            metric.update_state(labels, probabilities)
    return Measurement(
        metric=metric_name,
        float_value=float(float_metric.result().numpy()),
        tflite_value=float(tflite_metric.result().numpy()),
        examples=examples,
        skipped=skipped,
    )


def float_predictor(
    saved_model_dir: str, signature: str = RAW_SIGNATURE
) -> tuple[Callable[[dict[str, np.ndarray]], np.ndarray], dict[str, tf.dtypes.DType]]:
    """Loads the float SavedModel's raw signature.

    Args:
        saved_model_dir: The SavedModel.
        signature: The raw-feature signature.

    Returns:
        ``(predict, inputs)``: features -> probabilities, and the signature's input
        names and dtypes.
    """
    loaded = tf.saved_model.load(saved_model_dir)
    signature_inputs = loaded.signatures[signature].structured_input_signature[1]
    inputs = {name: spec.dtype for name, spec in signature_inputs.items()}

    def predict(features: dict[str, np.ndarray]) -> np.ndarray:
        tensors = {name: tf.constant(features[name], dtype=inputs[name]) for name in inputs}
        # Looked up through ``loaded`` on each call: the closure keeps the restored
        # model (and its variables) alive as long as the predictor.
        return _only_output(loaded.signatures[signature](**tensors)).numpy()

    return predict, inputs


def _only_output(outputs: dict[str, Any]) -> Any:
    # The raw signature has one output, named after the task ("probabilities", or
    # "predictions" for a regression).
    (value,) = outputs.values()
    return value


def tflite_predictor(
    tflite_model: bytes, signature: str = RAW_SIGNATURE
) -> Callable[[dict[str, np.ndarray]], np.ndarray]:
    """Wraps the TFLite model's raw signature (``tf.lite.Interpreter``).

    Args:
        tflite_model: The flatbuffer.
        signature: The signature key in it.

    Returns:
        Features -> probabilities.
    """
    runner = tf.lite.Interpreter(model_content=tflite_model).get_signature_runner(signature)

    def predict(features: dict[str, np.ndarray]) -> np.ndarray:
        return _only_output(runner(**features))

    return predict


@dataclasses.dataclass(frozen=True)
class Verdict:
    """The converter node's outcome, as recorded on the ``TFLiteModel`` artifact.

    Attributes:
        within_bound: Whether the TFLite file may be pushed.
        reason: One sentence saying why (or why not).
        size_bytes: The ``.tflite`` file's size (0 if conversion failed).
        float_size_bytes: The float SavedModel directory's size.
        quantized_weights: int8 weight tensors in the TFLite model.
        measurement: The metrics (None if conversion or evaluation failed).
        seconds: Wall time of conversion plus evaluation.
    """

    within_bound: bool
    reason: str
    size_bytes: int
    float_size_bytes: int
    quantized_weights: int
    measurement: Measurement | None
    seconds: float


def convert_and_measure(
    saved_model_dir: str,
    eval_files: list[str],
    output_path: str,
    label_key: str,
    metric_name: str,
    max_metric_delta: float,
    max_examples: int = 0,
    seed: int = 0,
) -> Verdict:
    """Converts the raw signature, writes the file, and measures it against the float model.

    Never raises for a model that does not convert or a delta over the bound: the
    verdict says so, and the caller records it (the float model is pushed anyway).

    Args:
        saved_model_dir: The Trainer's serving SavedModel.
        eval_files: Raw eval examples (gzipped TFRecords).
        output_path: Where to write ``model.tflite``.
        label_key: The raw label column.
        metric_name: The gate metric's Keras class name.
        max_metric_delta: The largest allowed ``|float - tflite|``.
        max_examples: Measure on the Evaluator's seeded sample of this many eval
            rows (0: every row).
        seed: The sample's seed.

    Returns:
        The verdict.
    """
    start = time.monotonic()
    float_size = directory_bytes(saved_model_dir)
    try:
        flatbuffer = convert(saved_model_dir)
    except Exception as error:  # noqa: BLE001 - recorded as the refusal's reason
        logging.exception("TFLite conversion of %s failed", saved_model_dir)
        return Verdict(
            False,
            f"conversion failed: {_first_line(error)}",
            0,
            float_size,
            0,
            None,
            time.monotonic() - start,
        )
    with open(output_path, "wb") as handle:
        handle.write(flatbuffer)
    quantized = quantized_weights(flatbuffer)
    try:
        float_predict, inputs = float_predictor(saved_model_dir)
        result = measure(
            float_predict,
            tflite_predictor(flatbuffer),
            eval_batches(eval_files, inputs, label_key, max_examples=max_examples, seed=seed),
            metric_name,
        )
    except Exception as error:  # noqa: BLE001 - recorded as the refusal's reason
        logging.exception("Evaluating the TFLite model of %s failed", saved_model_dir)
        return Verdict(
            False,
            f"evaluation failed: {_first_line(error)}",
            len(flatbuffer),
            float_size,
            quantized,
            None,
            time.monotonic() - start,
        )
    seconds = time.monotonic() - start
    if result.examples == 0:
        return Verdict(
            False,
            "no eval example had a value for every feature, so nothing was measured",
            len(flatbuffer),
            float_size,
            quantized,
            result,
            seconds,
        )
    within = abs(result.delta) <= max_metric_delta
    comparison = "<=" if within else ">"
    reason = (
        f"|{metric_name} float - TFLite| = {abs(result.delta):.4f} {comparison} "
        f"export.tflite_max_metric_delta {max_metric_delta:.4f}"
    )
    return Verdict(within, reason, len(flatbuffer), float_size, quantized, result, seconds)


def _first_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return f"{type(error).__name__}: {lines[0] if lines else ''}"[:500]


def record(artifact: types.Artifact, verdict: Verdict, max_metric_delta: float) -> None:
    """Writes a verdict onto the ``TFLiteModel`` artifact's custom properties.

    Args:
        artifact: The output artifact.
        verdict: What :func:`convert_and_measure` found.
        max_metric_delta: The configured bound.
    """
    artifact.set_int_custom_property("within_bound", int(verdict.within_bound))
    artifact.set_string_custom_property("reason", verdict.reason)
    artifact.set_int_custom_property("size_bytes", verdict.size_bytes)
    artifact.set_int_custom_property("float_size_bytes", verdict.float_size_bytes)
    artifact.set_int_custom_property("quantized_weights", verdict.quantized_weights)
    artifact.set_float_custom_property("max_delta", max_metric_delta)
    artifact.set_float_custom_property("seconds", verdict.seconds)
    result = verdict.measurement
    if result is not None:
        artifact.set_string_custom_property("metric", result.metric)
        artifact.set_float_custom_property("float_value", result.float_value)
        artifact.set_float_custom_property("tflite_value", result.tflite_value)
        artifact.set_float_custom_property("delta", result.delta)
        artifact.set_int_custom_property("examples", result.examples)


@component
def TFLiteConverter(  # noqa: N802 - TFX component classes are CamelCase
    model: InputArtifact[standard_artifacts.Model],
    examples: InputArtifact[standard_artifacts.Examples],
    tflite_model: OutputArtifact[TFLiteModel],
    label_key: Parameter[str],
    gate_metric: Parameter[str],
    max_metric_delta: Parameter[float] = 0.01,
    max_examples: Parameter[int] = 0,
    sample_seed: Parameter[int] = 0,
    code_version: Parameter[str] = "",
) -> None:
    """Converts the model's raw signature to TFLite and checks its metric delta.

    Args:
        model: The Trainer's model.
        examples: ExampleGen's raw examples (the newest span; its eval split is used).
        tflite_model: ``model.tflite`` with the measurements as custom properties.
        label_key: The raw label column.
        gate_metric: The Evaluator's gate metric (a Keras metric class name).
        max_metric_delta: The largest allowed ``|float - tflite|`` of that metric.
        max_examples: Measure on the Evaluator's seeded sample of this many eval
            rows (``evaluation.max_examples``; 0: every row).
        sample_seed: The Evaluator's sample seed.
        code_version: Part of the cache key, so code changes re-run the node.
    """
    del code_version  # only a cache key
    eval_uri = standard_artifact_utils.get_split_uri([examples], EVAL_SPLIT)
    files = sorted(glob.glob(os.path.join(eval_uri, "*")))
    os.makedirs(tflite_model.uri, exist_ok=True)
    verdict = convert_and_measure(
        path_utils.serving_model_path(model.uri),
        files,
        os.path.join(tflite_model.uri, TFLITE_FILE),
        label_key,
        gate_metric,
        max_metric_delta,
        max_examples=max_examples,
        seed=sample_seed,
    )
    logging.info("TFLite: %s", verdict)
    record(tflite_model, verdict, max_metric_delta)
