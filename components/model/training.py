"""Training loop: tf.data input (Transform's graph applied, or its materialised output), fit."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
import tf_keras as keras
from absl import logging
from tensorflow_metadata.proto.v0 import schema_pb2

# Not `tfx.v1`: it imports Google Cloud clients, ~10 s more start-up for each
# multi-worker training process.
from tfx.components.trainer.fn_args_utils import DataAccessor
from tfx_bsl.public import tfxio

from components.model.autograph import skip_autograph_for_tf_keras
from components.model.features import FeatureSpec, transformed_name
from components.model.hparams import STRATEGIES, Hyperparameters
from components.model.model import build_model
from components.model.warm_start import record, warm_start


def distribution_strategy(name: str) -> tf.distribute.Strategy:
    """Returns the tf.distribute strategy named in the config.

    Args:
        name: ``default`` (one device), ``mirrored`` (all local devices) or
            ``multi_worker_mirrored`` (workers described by ``TF_CONFIG``).

    Returns:
        The strategy to build and train the model under.

    Raises:
        ValueError: On an unknown name.
    """
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker_mirrored":
        return _multi_worker_strategy()
    raise ValueError(f"unknown distribution strategy {name!r}; expected one of {STRATEGIES}")


_MULTI_WORKER: list[tf.distribute.Strategy] = []


def _multi_worker_strategy() -> tf.distribute.Strategy:
    # One per process: its constructor configures collective ops and starts the
    # cluster's gRPC server (TF_CONFIG's address), which can happen only once, and
    # blocks until every worker has connected. The multi-worker training process
    # creates it first, before anything else touches TensorFlow, then run_fn gets
    # the same instance here.
    if not _MULTI_WORKER:
        _MULTI_WORKER.append(tf.distribute.MultiWorkerMirroredStrategy())
    return _MULTI_WORKER[0]


def _distributed(dataset: tf.data.Dataset) -> tf.data.Dataset:
    # Under MultiWorkerMirroredStrategy Keras shards the dataset across workers. The
    # default (AUTO) shards by file, and tf.distribute raises InvalidArgumentError
    # when there are fewer files than workers (a one-span window can be one file),
    # and uneven file counts would give workers uneven data.
    # DATA sharding has every worker read every file and keep its share of each
    # global batch; the same shuffle seed on every worker keeps the shares
    # disjoint. (A no-op for one worker.) batch_size stays the global batch: the
    # strategy splits each batch across the replicas.
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options).prefetch(tf.data.AUTOTUNE)


def input_fn(
    file_pattern: list[str],
    data_accessor: DataAccessor,
    tf_transform_output: tft.TFTransformOutput,
    spec: FeatureSpec,
    batch_size: int,
    seed: int | None = None,
) -> tf.data.Dataset:
    """Reads Transform's materialised examples as ``(features, label)`` batches.

    The examples are already transformed, so the input pipeline does no feature work:
    it only parses TFRecords with the transformed schema. The dataset repeats forever;
    the number of steps bounds training.

    Args:
        file_pattern: TFRecord files of one split (``fn_args.train_files`` etc.).
        data_accessor: TFX's accessor that builds a dataset from those files.
        tf_transform_output: Transform's output (for the transformed schema).
        spec: The feature spec (names the label).
        batch_size: Examples per batch.
        seed: Shuffle seed (None: nondeterministic order).

    Returns:
        A repeating dataset of ``(dict of transformed features, label)``.
    """
    dataset = data_accessor.tf_dataset_factory(
        file_pattern,
        tfxio.TensorFlowDatasetOptions(
            batch_size=batch_size, label_key=spec.transformed_label, shuffle_seed=seed
        ),
        tf_transform_output.transformed_metadata.schema,
    )
    return _distributed(dataset)


def raw_input_fn(
    file_pattern: list[str],
    data_accessor: DataAccessor,
    tf_transform_output: tft.TFTransformOutput,
    spec: FeatureSpec,
    batch_size: int,
    seed: int | None = None,
) -> tf.data.Dataset:
    """Reads raw (ExampleGen's) examples and applies the Transform graph per batch.

    Transform then needs to materialise nothing: it only analyses the window (with
    its analyzer cache, only the new span), and the Trainer applies the
    ``transform_fn`` it wrote, through ``TFTransformOutput.transform_features_layer``,
    the same SavedModel the exported model's ``serving_default`` carries, so
    training and serving see byte-identical feature logic. Only the columns the
    features and the label read are parsed (TFXIO projects the schema).

    Args:
        file_pattern: Raw TFRecord files of one split (``fn_args.train_files`` etc.).
        data_accessor: TFX's accessor that builds a dataset from those files.
        tf_transform_output: Transform's output (its raw schema and graph).
        spec: The feature spec (names the columns and the label).
        batch_size: Examples per batch.
        seed: Shuffle seed (None: nondeterministic order).

    Returns:
        A repeating dataset of ``(dict of transformed features, label)``.
    """
    wanted = set(spec.model_features) | {spec.label}
    raw_schema = schema_pb2.Schema()
    raw_schema.CopyFrom(tf_transform_output.raw_metadata.schema)
    kept = [feature for feature in raw_schema.feature if feature.name in wanted]
    del raw_schema.feature[:]
    raw_schema.feature.extend(kept)
    dataset = data_accessor.tf_dataset_factory(
        file_pattern,
        tfxio.TensorFlowDatasetOptions(batch_size=batch_size, shuffle_seed=seed),
        raw_schema,
    )
    transform_layer = tf_transform_output.transform_features_layer()

    def transform(
        raw: dict[str, tf.Tensor | tf.SparseTensor],
    ) -> tuple[dict[str, tf.Tensor], tf.Tensor]:
        # Some of the graph's outputs come back with the batch size as a static
        # dimension, others without (as parsed): give every one the raw batch's
        # dynamic size, as materialised examples have, so layers that combine
        # features (the crosses) see equal shapes.
        label_column = raw[spec.label]
        rows = (
            label_column.dense_shape[0]
            if isinstance(label_column, tf.SparseTensor)
            else tf.shape(label_column, out_type=tf.int64)[0]
        )
        transformed = {
            name: tf.reshape(value, tf.concat([[rows], tf.shape(value, tf.int64)[1:]], 0))
            for name, value in transform_layer(raw).items()
        }
        label = transformed.pop(spec.transformed_label)
        return transformed, label

    return _distributed(dataset.map(transform, num_parallel_calls=tf.data.AUTOTUNE))


_COUNT_BATCH = 4096


def count_examples(file_pattern: str) -> int:
    """Counts the records of one split's TFRecord files, without parsing them.

    Args:
        file_pattern: A split's file pattern (one entry of ``fn_args.train_files``).

    Returns:
        The number of serialized examples (ExampleGen and Transform write gzipped
        TFRecords, ``*.gz``; any other file is read uncompressed).
    """
    files = sorted(tf.io.gfile.glob(file_pattern))
    total = 0
    for compression in ("GZIP", ""):
        group = [name for name in files if name.endswith(".gz") == (compression == "GZIP")]
        if group:
            # Batched: a per-record reduce step costs ~10x the decompression.
            records = tf.data.TFRecordDataset(
                group, compression_type=compression, num_parallel_reads=tf.data.AUTOTUNE
            ).batch(_COUNT_BATCH)
            total += int(
                records.reduce(
                    np.int64(0),
                    lambda count, batch: count + tf.shape(batch, out_type=tf.int64)[0],
                )
            )
    return total


def epoch_steps(
    train_steps: int, train_epochs: float, newest_train_pattern: str | None, batch_size: int
) -> int:
    """How many steps the Trainer trains: ``train_steps``, or more for a big day.

    Args:
        train_steps: The configured minimum (``model.train_steps``).
        train_epochs: Passes over the newest span's train split (``model.train_epochs``;
            0: off, and nothing is counted).
        newest_train_pattern: The newest span's train split files (the window is
            oldest span first, so the last train pattern), or None.
        batch_size: The global batch size.

    Returns:
        ``max(train_steps, ceil(train_epochs * rows / batch_size))``.
    """
    if train_epochs <= 0 or not newest_train_pattern:
        return train_steps
    started = time.monotonic()
    rows = count_examples(newest_train_pattern)
    steps = max(train_steps, math.ceil(train_epochs * rows / batch_size))
    logging.info(
        "Training %d steps of %d: max(model.train_steps=%d, ceil(model.train_epochs=%g x "
        "%d rows in the newest span's train split %s / %d)); counted in %.1f s",
        steps,
        batch_size,
        train_steps,
        train_epochs,
        rows,
        newest_train_pattern,
        batch_size,
        time.monotonic() - started,
    )
    return steps


def cardinalities(spec: FeatureSpec, tf_transform_output: tft.TFTransformOutput) -> dict[str, int]:
    """Returns how many ids each categorical/bucketized feature can take after Transform.

    Read from the transformed schema's int domains, which TFT fills in from the
    vocabulary size plus OOV buckets (or the bucket count).

    Args:
        spec: The feature spec.
        tf_transform_output: Transform's output.

    Returns:
        Raw column name -> number of distinct ids.
    """
    id_features = spec.categorical + tuple(name for name, _ in spec.bucketized)
    return {
        key: tf_transform_output.num_buckets_for_transformed_feature(transformed_name(key))
        for key in id_features
    }


def train(
    spec: FeatureSpec,
    hparams: Hyperparameters,
    strategy_name: str,
    train_files: list[str],
    eval_files: list[str],
    data_accessor: DataAccessor,
    tf_transform_output: tft.TFTransformOutput,
    log_dir: str,
    train_steps: int,
    eval_steps: int,
    base_model: str | None = None,
    warm_start_enabled: bool = False,
    materialized: bool = True,
) -> keras.Model:
    """Builds the model under the configured strategy and fits it.

    Args:
        spec: The feature spec.
        hparams: Hyperparameters (batch size, steps, layer sizes).
        strategy_name: A name accepted by :func:`distribution_strategy`.
        train_files: Training TFRecords (transformed, or raw: ``materialized``).
        eval_files: Evaluation TFRecords (likewise).
        data_accessor: TFX's data accessor.
        tf_transform_output: Transform's output.
        log_dir: Where TensorBoard logs go (the Trainer's ModelRun artifact).
        train_steps: Training batches (the Trainer's ``train_args.num_steps``).
        eval_steps: Validation batches (the Trainer's ``eval_args.num_steps``).
        base_model: The warm-start candidate (``fn_args.base_model``), if any.
        warm_start_enabled: The config's ``training.warm_start``.
        materialized: Whether the files are Transform's materialised output (else
            ExampleGen's raw examples, transformed here by :func:`raw_input_fn`).

    Returns:
        The trained model.
    """
    skip_autograph_for_tf_keras()
    keras.utils.set_random_seed(hparams.seed)
    strategy = distribution_strategy(strategy_name)
    read = input_fn if materialized else raw_input_fn
    train_ds = read(
        train_files, data_accessor, tf_transform_output, spec, hparams.batch_size, hparams.seed
    )
    eval_ds = read(
        eval_files, data_accessor, tf_transform_output, spec, hparams.batch_size, hparams.seed
    )
    with strategy.scope():
        model = build_model(spec, cardinalities(spec, tf_transform_output), hparams)
        record(warm_start(model, base_model, warm_start_enabled), log_dir)
    model.fit(
        train_ds,
        epochs=1,
        steps_per_epoch=train_steps,
        validation_data=eval_ds,
        validation_steps=eval_steps,
        callbacks=[keras.callbacks.TensorBoard(log_dir=log_dir, update_freq="epoch")],
        verbose=2,
    )
    return model


def hyperparameters_from(custom_config: Mapping[str, object]) -> Hyperparameters:
    """Reads :class:`Hyperparameters` back from Trainer's ``custom_config``.

    Args:
        custom_config: ``fn_args.custom_config``.

    Returns:
        The hyperparameters.
    """
    return Hyperparameters.from_dict(custom_config["hyperparameters"])  # type: ignore[arg-type]
