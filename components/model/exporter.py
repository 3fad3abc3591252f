"""Exports the trained model with the Transform graph attached, as TF Serving loads it."""

from __future__ import annotations

import tensorflow as tf
import tensorflow_transform as tft
import tf_keras as keras

from components.model.autograph import skip_autograph_for_tf_keras
from components.model.features import FeatureSpec

SERVING_SIGNATURE = "serving_default"
# Raw features as named tensors: what a REST `{"instances": [{...}]}` request and an
# on-device (TFLite) caller hold. Not `predict`: TF Serving has no such reserved name,
# and the name says what differs from serving_default (raw values, not tf.Examples).
RAW_SIGNATURE = "serving_raw"
OUTPUT_KEY = "probabilities"
# A regression's output is a predicted value, not a probability. TFMA finds either
# name among its standard prediction keys, so the eval config names neither.
REGRESSION_OUTPUT_KEY = "predictions"


def output_key(spec: FeatureSpec) -> str:
    """The serving signatures' one output name for the spec's task.

    Args:
        spec: The feature spec.

    Returns:
        ``predictions`` for a regression, else ``probabilities``.
    """
    return REGRESSION_OUTPUT_KEY if spec.task == "regression" else OUTPUT_KEY


def serving_feature_spec(
    spec: FeatureSpec, tf_transform_output: tft.TFTransformOutput
) -> dict[str, tf.io.FixedLenFeature | tf.io.VarLenFeature]:
    """Returns the parse spec for serving requests: the model's raw features only.

    The label and ignored columns (ids) are left out, so a request need not carry
    them; TFT prunes the Transform graph down to the outputs the model uses.

    Args:
        spec: The feature spec.
        tf_transform_output: Transform's output (holds the raw schema).

    Returns:
        Raw column name -> parse spec.
    """
    raw = tf_transform_output.raw_feature_spec()
    return {key: raw[key] for key in spec.model_features}


def raw_input_signature(
    spec: FeatureSpec, tf_transform_output: tft.TFTransformOutput
) -> dict[str, tf.TensorSpec]:
    """Returns the inputs of ``serving_raw``: one ``[batch]`` tensor per raw feature.

    Each instance carries one value per feature, with the raw schema's dtype
    (``float32``, ``int64`` or ``string``), named after its column.

    Args:
        spec: The feature spec.
        tf_transform_output: Transform's output (holds the raw schema).

    Returns:
        Raw column name -> TensorSpec of shape ``[None]``.

    Raises:
        ValueError: If a model feature holds more than one value per example
            (a fixed-length feature of another shape), which a single value per
            instance cannot express.
    """
    parse_spec = serving_feature_spec(spec, tf_transform_output)
    for name, feature in parse_spec.items():
        shape = getattr(feature, "shape", None)
        if shape is not None and list(shape) not in ([], [1]):
            raise ValueError(
                f"feature {name!r} has shape {list(shape)} in the schema; the "
                f"{RAW_SIGNATURE} signature takes one value per instance"
            )
    return {
        name: tf.TensorSpec(shape=[None], dtype=feature.dtype, name=name)
        for name, feature in parse_spec.items()
    }


def _raw_batch(
    values: dict[str, tf.Tensor],
    parse_spec: dict[str, tf.io.FixedLenFeature | tf.io.VarLenFeature],
) -> dict[str, tf.Tensor | tf.SparseTensor]:
    """Shapes ``[batch]`` raw values as ``tf.io.parse_example`` would have parsed them.

    The Transform layer expects exactly what parsing serialized examples produces,
    so both signatures hand it the same structure: ``[batch, 1]`` (or ``[batch]``)
    dense tensors for fixed-length features, and ``[batch, 1]`` SparseTensors with
    every value present for optional (var-length) ones.
    """
    raw: dict[str, tf.Tensor | tf.SparseTensor] = {}
    for name, feature in parse_spec.items():
        value = values[name]
        if isinstance(feature, tf.io.VarLenFeature):
            rows = tf.shape(value, out_type=tf.int64)[0]
            indices = tf.stack([tf.range(rows), tf.zeros([rows], tf.int64)], axis=1)
            raw[name] = tf.SparseTensor(indices, value, tf.stack([rows, 1]))
        else:
            raw[name] = tf.reshape(value, [-1, *feature.shape])
    return raw


def make_serving_signatures(
    model: keras.Model, spec: FeatureSpec, tf_transform_output: tft.TFTransformOutput
) -> dict[str, tf.types.experimental.ConcreteFunction]:
    """Builds the serving signatures applying the Transform graph before the model.

    Args:
        model: The trained Keras model over transformed features.
        spec: The feature spec.
        tf_transform_output: Transform's output.

    Returns:
        ``{"serving_default": fn, "serving_raw": raw_fn}``. ``fn`` takes a batch of
        serialized ``tf.Example`` (what TF Serving's predict/classify APIs and TFMA
        send); ``raw_fn`` takes the raw features as named ``[batch]`` tensors (what
        a REST ``{"instances": [{...}]}`` request carries). Both run the same
        Transform layer and model and return ``{"probabilities": ...}``
        (``{"predictions": ...}`` for a regression, :func:`output_key`).
    """
    skip_autograph_for_tf_keras()
    # Tracking the layer on the model makes the Transform assets (vocabularies)
    # part of the SavedModel.
    model.tft_layer = tf_transform_output.transform_features_layer()
    parse_spec = serving_feature_spec(spec, tf_transform_output)
    output = output_key(spec)

    def predict(raw: dict[str, tf.Tensor | tf.SparseTensor]) -> dict[str, tf.Tensor]:
        # The one path from raw features to the output that both signatures share.
        transformed = model.tft_layer(raw)
        features = {name: transformed[name] for name in model.input_names}
        features = {
            name: tf.reshape(value, [-1, 1]) if not isinstance(value, tf.SparseTensor) else value
            for name, value in features.items()
        }
        return {output: model(features)}

    @tf.function(input_signature=[tf.TensorSpec(shape=[None], dtype=tf.string, name="examples")])
    def serve_tf_examples(serialized: tf.Tensor) -> dict[str, tf.Tensor]:
        return predict(tf.io.parse_example(serialized, parse_spec))

    @tf.function(input_signature=[raw_input_signature(spec, tf_transform_output)])
    def serve_raw_features(features: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        return predict(_raw_batch(features, parse_spec))

    return {
        SERVING_SIGNATURE: serve_tf_examples.get_concrete_function(),
        RAW_SIGNATURE: serve_raw_features.get_concrete_function(),
    }


def export(
    model: keras.Model,
    spec: FeatureSpec,
    tf_transform_output: tft.TFTransformOutput,
    serving_model_dir: str,
) -> None:
    """Saves the model and its serving signatures as a SavedModel.

    Args:
        model: The trained model.
        spec: The feature spec.
        tf_transform_output: Transform's output.
        serving_model_dir: The Trainer's ``fn_args.serving_model_dir``.
    """
    signatures = make_serving_signatures(model, spec, tf_transform_output)
    tf.saved_model.save(model, serving_model_dir, signatures=signatures)
