"""TF Serving warm-up requests for a pushed version, built from real eval rows.

TF Serving runs the requests in ``<version>/assets.extra/tf_serving_warmup_requests``
(a TFRecord of ``tensorflow.serving.PredictionLog``) when it loads a version, before
the version takes traffic, so the first real requests do not pay for lazy
initialisation (graph optimisation, the vocabulary tables, memory allocation). A
warm-up request that fails makes the version fail to load, so every request here is
built for the model's own signatures and dtypes (read from the staged
``saved_model.pb``) from eval rows that hold one value for every raw feature.

The Pusher (:mod:`components.pusher`) calls :func:`add_to_version` on the staged
version directory before the rename, so a version has the file complete or not at all.
The rows are the newest span's eval split (CsvExampleGen's ``Split-eval``, gzipped
TFRecords of raw ``tf.Example``): the same rows the Evaluator judged the model on.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterator, Mapping, Sequence

import tensorflow as tf
from tensorflow_serving.apis import prediction_log_pb2
from tfx import types
from tfx.types import standard_artifact_utils

from components.model import serving_requests
from components.model.serving_requests import TypedRow

WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")
EVAL_SPLIT = "eval"
# One request per batch size and signature: a single row (what most online traffic
# is) and bigger batches (what server-side batching builds), so TF Serving warms the
# shapes it will see. TF Serving reads at most 1,000 warm-up records.
BATCH_SIZES = (1, 4, 10)


def eval_rows(examples: types.Artifact, inputs: Mapping[str, tf.dtypes.DType]) -> list[TypedRow]:
    """Reads rows of an ExampleGen's eval split that have one value for every input.

    Args:
        examples: ExampleGen's ``Examples`` artifact (raw ``tf.Example``, gzipped).
        inputs: Feature -> dtype (the ``serving_raw`` signature's inputs).

    Returns:
        Up to ``max(BATCH_SIZES)`` rows, typed; fewer when the split has fewer complete rows.
    """
    split_uri = standard_artifact_utils.get_split_uri([examples], EVAL_SPLIT)
    files = sorted(glob.glob(os.path.join(split_uri, "*")))
    rows: list[TypedRow] = []
    for record in _records(files):
        row = _row(tf.train.Example.FromString(record), inputs)
        if row is not None:
            rows.append(row)
            if len(rows) == max(BATCH_SIZES):
                break
    return rows


def _records(files: Sequence[str]) -> Iterator[bytes]:
    for path in files:
        for record in tf.data.TFRecordDataset([path], compression_type="GZIP"):
            yield record.numpy()


def _row(example: tf.train.Example, inputs: Mapping[str, tf.dtypes.DType]) -> TypedRow | None:
    """The example's inputs as one value each, or None if one is missing or repeated."""
    row: TypedRow = {}
    for name in inputs:
        feature = example.features.feature.get(name)
        kind = feature.WhichOneof("kind") if feature is not None else None
        values = list(getattr(feature, kind).value) if kind else []
        if len(values) != 1:
            return None
        row[name] = values[0]
    # The stored types follow the schema, which also typed the signature; converting
    # through it keeps a float32 input a float even if a row stored it as int64.
    return serving_requests.typed_rows([row], inputs)[0]


def prediction_logs(
    rows: Sequence[TypedRow],
    inputs: Mapping[str, tf.dtypes.DType],
    signatures: Sequence[str],
) -> list[prediction_log_pb2.PredictionLog]:
    """One ``PredictionLog`` per batch size and signature, from the first rows.

    Args:
        rows: Complete typed rows (:func:`eval_rows`).
        inputs: Feature -> dtype.
        signatures: The signatures to warm up (``serving_default``, ``serving_raw``).

    Returns:
        The logs, each holding a ``predict_log.request``; a batch size larger than the
        rows available is left out (after the first), so no two logs are alike.
    """
    sizes = sorted({min(size, len(rows)) for size in BATCH_SIZES} - {0})
    logs = []
    for signature in signatures:
        for size in sizes:
            log = prediction_log_pb2.PredictionLog()
            log.predict_log.request.CopyFrom(
                serving_requests.predict_request(rows[:size], inputs, signature)
            )
            logs.append(log)
    return logs


def write(
    version_dir: str | os.PathLike[str], logs: Sequence[prediction_log_pb2.PredictionLog]
) -> str:
    """Writes the logs as the version's warm-up file (an uncompressed TFRecord).

    Args:
        version_dir: A SavedModel (version) directory.
        logs: The requests.

    Returns:
        The file's path.
    """
    path = os.path.join(os.fspath(version_dir), WARMUP_FILE)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with tf.io.TFRecordWriter(path) as writer:
        for log in logs:
            writer.write(log.SerializeToString())
    return path


def read(version_dir: str | os.PathLike[str]) -> list[prediction_log_pb2.PredictionLog]:
    """Reads a version's warm-up file back.

    Args:
        version_dir: A version directory.

    Returns:
        The logs, in file order; empty when the version has no warm-up file.
    """
    path = os.path.join(os.fspath(version_dir), WARMUP_FILE)
    if not os.path.isfile(path):
        return []
    return [
        prediction_log_pb2.PredictionLog.FromString(record.numpy())
        for record in tf.data.TFRecordDataset([path])
    ]


def add_to_version(
    version_dir: str, examples: types.Artifact, also_to: Sequence[str] = ()
) -> tuple[int, str]:
    """Writes warm-up requests for both signatures into a (staged) version directory.

    Args:
        version_dir: The SavedModel directory, before it is published.
        examples: ExampleGen's ``Examples`` of the newest span.
        also_to: Other copies of the SavedModel to write the same file into (the
            PushedModel artifact's archive copy).

    Returns:
        ``(requests written, reason)``: 0 with the reason when the eval split has no
        row holding every feature (the version is then pushed without warm-up).
    """
    inputs = serving_requests.signature_inputs(version_dir)
    rows = eval_rows(examples, inputs)
    if not rows:
        return 0, (
            f"no eval row of {examples.uri} has one value for every feature "
            f"({', '.join(inputs)}); pushed without warm-up requests"
        )
    signatures = serving_requests.saved_model_signatures(version_dir)
    logs = prediction_logs(rows, inputs, signatures)
    for directory in (version_dir, *also_to):
        write(directory, logs)
    return len(logs), (
        f"{len(logs)} requests ({', '.join(signatures)}; batches of "
        f"{sorted({len(rows[:size]) for size in BATCH_SIZES})} eval rows)"
    )
