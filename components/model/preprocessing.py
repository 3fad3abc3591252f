"""The Transform ``preprocessing_fn``, driven by the feature spec in ``custom_config``.

Transform traces this function into one graph that is applied both to the training
data and, via the SavedModel's ``tft_layer``, to every serving request — so training
and serving cannot skew.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import tensorflow as tf
import tensorflow_transform as tft

from components.model.features import FeatureSpec, transformed_name

FEATURES_KEY = "features"


def _dense(value: tf.Tensor | tf.SparseTensor, default: Any) -> tf.Tensor:
    """Returns a ``[batch]`` dense tensor, filling absent values with ``default``.

    Columns the schema marks optional arrive as SparseTensors of shape
    ``[batch, 1]``; required ones as dense ``[batch, 1]``.
    """
    if isinstance(value, tf.SparseTensor):
        value = tf.sparse.to_dense(
            tf.SparseTensor(value.indices, value.values, [value.dense_shape[0], 1]),
            default_value=default,
        )
    return tf.reshape(value, [-1])


def _fill_numeric(value: tf.Tensor | tf.SparseTensor) -> tf.Tensor:
    """Densifies a numeric column, imputing missing values with the column's mean.

    The mean is a TFT analyzer, so the imputation value is computed once over the
    analysis data and frozen into the graph (serving imputes with the same number).
    """
    if isinstance(value, tf.SparseTensor):
        mean = tft.mean(tf.cast(value.values, tf.float32))
        return _dense(tf.cast(value, tf.float32), mean)
    return tf.cast(_dense(value, 0), tf.float32)


def _as_string(value: tf.Tensor | tf.SparseTensor) -> tf.Tensor:
    """Densifies a categorical column as strings; a missing value becomes ``""``."""
    if isinstance(value, tf.SparseTensor):
        if value.dtype != tf.string:
            value = tf.SparseTensor(
                value.indices, tf.strings.as_string(value.values), value.dense_shape
            )
        return _dense(value, "")
    value = _dense(value, 0)
    return value if value.dtype == tf.string else tf.strings.as_string(value)


def transform_features(
    inputs: Mapping[str, tf.Tensor | tf.SparseTensor], spec: FeatureSpec
) -> dict[str, tf.Tensor]:
    """Applies the spec's transformations (the body of ``preprocessing_fn``).

    Args:
        inputs: Raw features keyed by column name, as Transform parses them.
        spec: Which columns are numeric, categorical, bucketized and the label.

    Returns:
        Transformed features keyed by :func:`transformed_name`: z-scored floats for
        numeric columns, int64 ids for categorical (vocabulary + OOV buckets) and
        bucketized columns, and the label as an int64 class id (a float32 value for
        a regression).
    """
    outputs: dict[str, tf.Tensor] = {}
    for key in spec.numeric:
        outputs[transformed_name(key)] = tft.scale_to_z_score(_fill_numeric(inputs[key]))
    for key in spec.categorical:
        outputs[transformed_name(key)] = tft.compute_and_apply_vocabulary(
            _as_string(inputs[key]),
            top_k=spec.vocab_top_k,
            num_oov_buckets=spec.oov_buckets,
            vocab_filename=key,
        )
    for key, num_buckets in spec.bucketized:
        outputs[transformed_name(key)] = tft.bucketize(
            _fill_numeric(inputs[key]), num_buckets=num_buckets
        )
    if spec.label in inputs:
        # Serving requests carry no label; TFT prunes this output there.
        # A regression's label is a number (a float, or an int column read as one);
        # casting it to a class id would truncate it.
        label_dtype = tf.float32 if spec.task == "regression" else tf.int64
        outputs[spec.transformed_label] = tf.cast(_dense(inputs[spec.label], 0), label_dtype)
    return outputs


def preprocessing_fn(
    inputs: Mapping[str, tf.Tensor | tf.SparseTensor], custom_config: Mapping[str, Any]
) -> dict[str, tf.Tensor]:
    """TFX Transform entry point (referenced by dotted path, not ``module_file``).

    Args:
        inputs: Raw features keyed by column name.
        custom_config: Transform's ``custom_config``; ``custom_config["features"]``
            holds :meth:`FeatureSpec.to_dict`.

    Returns:
        The transformed features.
    """
    return transform_features(inputs, FeatureSpec.from_dict(custom_config[FEATURES_KEY]))
