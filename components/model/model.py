"""Keras Wide & Deep model builder over the transformed features.

TFX 1.16's Transform and TFMA work with Keras 2, which TensorFlow 2.16 ships as the
separate ``tf_keras`` package (``tf.keras`` would be Keras 3), so the model is built
with ``tf_keras`` throughout.
"""

from __future__ import annotations

from collections.abc import Mapping

import tensorflow as tf
import tf_keras as keras

from components.model.features import FeatureSpec, transformed_name
from components.model.hparams import Hyperparameters


def build_model(
    spec: FeatureSpec, cardinalities: Mapping[str, int], hparams: Hyperparameters
) -> keras.Model:
    """Builds and compiles a Wide & Deep classifier or regressor.

    The wide part is a linear model over one-hot categorical and bucketized ids and
    their hashed crosses (memorisation, e.g. device x category); the deep part embeds
    the same ids and concatenates the z-scored numerics into an MLP (generalisation).
    Their logits are summed; a classifier applies a sigmoid or softmax, a regressor
    keeps the sum as its prediction (one linear unit).

    Args:
        spec: The feature spec.
        cardinalities: For each categorical and bucketized raw column, the number of
            distinct ids Transform can emit (vocabulary size + OOV buckets, or buckets).
        hparams: Layer sizes and optimiser settings.

    Returns:
        A compiled model taking transformed features (``<name>_xf``, shape ``[batch, 1]``)
        and returning probabilities: ``[batch, 1]`` for binary, ``[batch, num_classes]``
        for multiclass; or predicted values, ``[batch, 1]``, for regression.
    """
    units = spec.output_units
    inputs: dict[str, keras.Input] = {}
    for key in spec.numeric:
        inputs[transformed_name(key)] = keras.Input(
            shape=(1,), name=transformed_name(key), dtype="float32"
        )
    id_features = spec.categorical + tuple(name for name, _ in spec.bucketized)
    for key in id_features:
        inputs[transformed_name(key)] = keras.Input(
            shape=(1,), name=transformed_name(key), dtype="int64"
        )

    wide_logits = []
    deep_parts = [inputs[transformed_name(key)] for key in spec.numeric]
    for key in id_features:
        ids = inputs[transformed_name(key)]
        size = int(cardinalities[key])
        # An Embedding of width `units` over ids is exactly a linear layer on one-hot ids.
        wide_logits.append(
            keras.layers.Flatten()(keras.layers.Embedding(size, units, name=f"wide_{key}")(ids))
        )
        deep_parts.append(
            keras.layers.Flatten()(
                keras.layers.Embedding(size, hparams.embedding_dim, name=f"embed_{key}")(ids)
            )
        )
    for cross in spec.crosses:
        name = "_x_".join(cross)
        crossed = keras.layers.HashedCrossing(num_bins=hparams.cross_buckets, name=f"cross_{name}")(
            tuple(inputs[transformed_name(key)] for key in cross)
        )
        wide_logits.append(
            keras.layers.Flatten()(
                keras.layers.Embedding(hparams.cross_buckets, units, name=f"wide_{name}")(crossed)
            )
        )

    deep = deep_parts[0] if len(deep_parts) == 1 else keras.layers.concatenate(deep_parts)
    for i, width in enumerate(hparams.hidden_units):
        deep = keras.layers.Dense(width, activation="relu", name=f"deep_{i}")(deep)
        if hparams.dropout:
            deep = keras.layers.Dropout(hparams.dropout)(deep)
    logits = keras.layers.Dense(units, name="deep_logits")(deep)
    if wide_logits:
        logits = keras.layers.Add(name="wide_and_deep_logits")([logits, *wide_logits])

    outputs, loss, metrics = _head(spec, logits)
    model = keras.Model(inputs=inputs, outputs=outputs, name="wide_and_deep")
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=hparams.learning_rate),
        loss=loss,
        metrics=metrics,
    )
    return model


def _head(
    spec: FeatureSpec, logits: tf.Tensor
) -> tuple[tf.Tensor, keras.losses.Loss, list[keras.metrics.Metric]]:
    """The output layer, loss and training metrics for the spec's task.

    The metrics' names are TFMA's metric keys (``auc``, ``mean_squared_error``), so
    TensorBoard and the Evaluator name the same quantity alike.
    """
    if spec.task == "binary":
        outputs = keras.layers.Activation("sigmoid", name="probabilities")(logits)
        return (
            outputs,
            keras.losses.BinaryCrossentropy(),
            [keras.metrics.AUC(name="auc"), keras.metrics.BinaryAccuracy(name="accuracy")],
        )
    if spec.task == "multiclass":
        outputs = keras.layers.Activation("softmax", name="probabilities")(logits)
        return (
            outputs,
            keras.losses.SparseCategoricalCrossentropy(),
            [keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        )
    # Regression: the summed logits are the prediction (identity activation, named
    # like the serving output).
    outputs = keras.layers.Activation("linear", name="predictions")(logits)
    return (
        outputs,
        keras.losses.MeanSquaredError(),
        [
            keras.metrics.MeanSquaredError(name="mean_squared_error"),
            keras.metrics.MeanAbsoluteError(name="mean_absolute_error"),
        ],
    )
