"""Training loop: tf.data input from Transform's output and the Keras fit call."""

from __future__ import annotations

from collections.abc import Mapping

import tensorflow as tf
import tensorflow_transform as tft
import tf_keras as keras

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
    # Under MultiWorkerMirroredStrategy Keras shards the dataset across workers. The
    # default (AUTO) shards by file, and tf.distribute raises InvalidArgumentError
    # when there are fewer files than workers; Transform writes one file per span
    # and split here (a one-span window is one file), and uneven file counts would
    # give workers uneven data.
    # DATA sharding has every worker read every file and keep its share of each
    # global batch; the same shuffle seed on every worker keeps the shares
    # disjoint. (A no-op for one worker.) batch_size stays the global batch: the
    # strategy splits each batch across the replicas.
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options).prefetch(tf.data.AUTOTUNE)


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
) -> keras.Model:
    """Builds the model under the configured strategy and fits it.

    Args:
        spec: The feature spec.
        hparams: Hyperparameters (batch size, steps, layer sizes).
        strategy_name: A name accepted by :func:`distribution_strategy`.
        train_files: Transformed training TFRecords.
        eval_files: Transformed evaluation TFRecords.
        data_accessor: TFX's data accessor.
        tf_transform_output: Transform's output.
        log_dir: Where TensorBoard logs go (the Trainer's ModelRun artifact).
        train_steps: Training batches (the Trainer's ``train_args.num_steps``).
        eval_steps: Validation batches (the Trainer's ``eval_args.num_steps``).
        base_model: The warm-start candidate (``fn_args.base_model``), if any.
        warm_start_enabled: The config's ``training.warm_start``.

    Returns:
        The trained model.
    """
    skip_autograph_for_tf_keras()
    keras.utils.set_random_seed(hparams.seed)
    strategy = distribution_strategy(strategy_name)
    train_ds = input_fn(
        train_files, data_accessor, tf_transform_output, spec, hparams.batch_size, hparams.seed
    )
    eval_ds = input_fn(
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
