"""Shape and wiring tests of the Wide & Deep builder (components.model.model) and of
the hyperparameter section (components.model.hparams)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import tf_keras as keras  # Keras 2: what TFX 1.16 / TFMA / Transform work with

from components.model.features import FeatureSpec, transformed_name
from components.model.hparams import Hyperparameters
from components.model.model import build_model

BATCH = 64

BINARY = FeatureSpec(
    label="y",
    numeric=("x1", "x2"),
    categorical=("c",),
    bucketized=(("b", 4),),
    crosses=(("c", "b"),),
)
# Ids Transform can emit for each id feature: vocabulary + OOV for "c", buckets for "b".
BINARY_CARDINALITIES = {"c": 5, "b": 4}

MULTICLASS = FeatureSpec(label="y", task="multiclass", num_classes=3, numeric=("x1", "x2", "x3"))

REGRESSION = FeatureSpec(label="y", task="regression", numeric=("x1",), categorical=("c",))
REGRESSION_CARDINALITIES = {"c": 5}

HPARAMS = Hyperparameters(
    hidden_units=(8, 4), embedding_dim=3, cross_buckets=16, learning_rate=0.01, batch_size=32
)


def _inputs(spec: FeatureSpec, cardinalities: dict[str, int], rows: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    features = {}
    for key in spec.numeric:
        features[transformed_name(key)] = rng.normal(size=(rows, 1)).astype("float32")
    for key in spec.categorical + tuple(name for name, _ in spec.bucketized):
        features[transformed_name(key)] = rng.integers(
            0, cardinalities[key], size=(rows, 1)
        ).astype("int64")
    return features


@pytest.fixture(scope="module")
def binary_model() -> keras.Model:
    keras.utils.set_random_seed(1)
    return build_model(BINARY, BINARY_CARDINALITIES, HPARAMS)


@pytest.fixture(scope="module")
def multiclass_model() -> keras.Model:
    keras.utils.set_random_seed(1)
    return build_model(MULTICLASS, {}, HPARAMS)


# --- build_model -----------------------------------------------------------------------


def test_builds_a_tf_keras_model(binary_model: keras.Model) -> None:
    assert isinstance(binary_model, keras.Model)
    assert binary_model.name == "wide_and_deep"
    assert binary_model.optimizer is not None  # compiled


def test_binary_output_is_one_probability_per_row(binary_model: keras.Model) -> None:
    # A direct (eager) call: predict() would spend seconds tracing for nothing.
    probabilities = binary_model(_inputs(BINARY, BINARY_CARDINALITIES, BATCH)).numpy()
    assert probabilities.shape == (BATCH, 1)
    assert np.all(probabilities > 0.0) and np.all(probabilities < 1.0)
    assert tuple(binary_model.output_shape) == (None, 1)


def test_multiclass_output_is_a_distribution_over_classes(
    multiclass_model: keras.Model,
) -> None:
    probabilities = multiclass_model(_inputs(MULTICLASS, {}, BATCH)).numpy()
    assert probabilities.shape == (BATCH, 3)
    assert np.all(probabilities >= 0.0)
    np.testing.assert_allclose(probabilities.sum(axis=1), np.ones(BATCH), rtol=1e-5)


def test_binary_layers_are_wide_embed_and_cross(binary_model: keras.Model) -> None:
    names = {layer.name for layer in binary_model.layers}
    assert {"wide_c", "wide_b", "embed_c", "embed_b"} <= names
    assert {"cross_c_x_b", "wide_c_x_b"} <= names
    assert {"deep_0", "deep_1", "deep_logits", "wide_and_deep_logits", "probabilities"} <= names
    # No embedding for numerics: they are fed to the deep tower as they are.
    assert not any(name.endswith(("_x1", "_x2")) for name in names)


def test_embedding_sizes_follow_cardinalities_and_hparams(binary_model: keras.Model) -> None:
    wide_c = binary_model.get_layer("wide_c")
    embed_c = binary_model.get_layer("embed_c")
    wide_cross = binary_model.get_layer("wide_c_x_b")
    assert (wide_c.input_dim, wide_c.output_dim) == (5, 1)
    assert (embed_c.input_dim, embed_c.output_dim) == (5, HPARAMS.embedding_dim)
    assert binary_model.get_layer("embed_b").input_dim == 4
    assert (wide_cross.input_dim, wide_cross.output_dim) == (HPARAMS.cross_buckets, 1)
    assert binary_model.get_layer("deep_0").units == 8
    assert binary_model.get_layer("deep_1").units == 4


def test_multiclass_numeric_only_has_no_wide_part(multiclass_model: keras.Model) -> None:
    names = {layer.name for layer in multiclass_model.layers}
    assert not any(name.startswith(("wide_", "embed_", "cross_")) for name in names)
    assert "wide_and_deep_logits" not in names  # no Add when there are no wide logits
    assert multiclass_model.get_layer("deep_logits").units == 3


def test_inputs_are_transformed_names_with_batch_by_one_shape(
    binary_model: keras.Model,
) -> None:
    inputs = {tensor.name.split(":")[0]: tensor for tensor in binary_model.inputs}
    assert set(binary_model.input_names) == {"x1_xf", "x2_xf", "c_xf", "b_xf"}
    assert set(inputs) == {"x1_xf", "x2_xf", "c_xf", "b_xf"}
    for name in ("x1_xf", "x2_xf"):
        assert inputs[name].dtype.name == "float32"
        assert tuple(inputs[name].shape) == (None, 1)
    for name in ("c_xf", "b_xf"):
        assert inputs[name].dtype.name == "int64"
        assert tuple(inputs[name].shape) == (None, 1)


def test_missing_input_is_rejected(binary_model: keras.Model) -> None:
    features = _inputs(BINARY, BINARY_CARDINALITIES, 4)
    del features["c_xf"]
    with pytest.raises((KeyError, ValueError)):
        binary_model(features)


@pytest.mark.parametrize(
    ("spec", "cardinalities", "labels"),
    [
        (BINARY, BINARY_CARDINALITIES, lambda rng: rng.integers(0, 2, size=(BATCH, 1))),
        (MULTICLASS, {}, lambda rng: rng.integers(0, 3, size=(BATCH,))),
    ],
    ids=["binary", "multiclass"],
)
def test_fit_two_steps_gives_finite_loss(spec, cardinalities, labels) -> None:
    keras.utils.set_random_seed(3)
    model = build_model(spec, cardinalities, HPARAMS)
    # Same layers, loss and optimizer; eager execution skips ~13 s of one-time
    # autograph conversion of Keras internals that graph-mode fit() would cost.
    model.run_eagerly = True
    rng = np.random.default_rng(3)
    history = model.fit(
        _inputs(spec, cardinalities, BATCH, seed=3),
        labels(rng).astype("int64"),
        batch_size=BATCH // 2,
        epochs=1,
        verbose=0,
    )
    losses = history.history["loss"]
    assert len(losses) == 1
    assert np.isfinite(losses[0])
    assert model.optimizer.iterations.numpy() == 2


def test_single_deep_input_without_concatenate() -> None:
    spec = FeatureSpec(label="y", numeric=("x",))
    model = build_model(spec, {}, dataclasses.replace(HPARAMS, hidden_units=(4,), dropout=0.5))
    names = {layer.name for layer in model.layers}
    assert not any(name.startswith("concatenate") for name in names)
    assert any(isinstance(layer, keras.layers.Dropout) for layer in model.layers)
    out = model({"x_xf": np.zeros((3, 1), "float32")}).numpy()
    assert out.shape == (3, 1)


def test_regression_is_one_linear_unit_with_mse_loss() -> None:
    keras.utils.set_random_seed(1)
    model = build_model(REGRESSION, REGRESSION_CARDINALITIES, HPARAMS)
    assert tuple(model.output_shape) == (None, 1)
    assert model.get_layer("predictions").activation is keras.activations.linear
    assert "probabilities" not in {layer.name for layer in model.layers}
    assert isinstance(model.loss, keras.losses.MeanSquaredError)
    # Named like TFMA's metric keys, so TensorBoard and the Evaluator agree.
    compiled = [m.name for m in model.compiled_metrics._user_metrics]
    assert compiled == ["mean_squared_error", "mean_absolute_error"]


def test_regression_fits_float_labels_beyond_zero_one() -> None:
    keras.utils.set_random_seed(3)
    model = build_model(
        REGRESSION, REGRESSION_CARDINALITIES, dataclasses.replace(HPARAMS, learning_rate=0.1)
    )
    model.run_eagerly = True
    features = _inputs(REGRESSION, REGRESSION_CARDINALITIES, BATCH, seed=3)
    # A label far outside [0, 1]: a sigmoid could never reach it, a linear unit can.
    labels = (50.0 + 10.0 * features["x1_xf"]).astype("float32")
    history = model.fit(features, labels, batch_size=BATCH // 2, epochs=20, verbose=0)
    losses = history.history["loss"]
    assert np.all(np.isfinite(losses)) and losses[-1] < losses[0]
    assert float(np.max(model(features).numpy())) > 1.0


# --- Hyperparameters -------------------------------------------------------------------


def test_hparams_from_dict_rejects_unknown_keys() -> None:
    with pytest.raises(ValueError, match="hiden_units"):
        Hyperparameters.from_dict({"hiden_units": [8]})


@pytest.mark.parametrize(
    "key", ["embedding_dim", "cross_buckets", "batch_size", "train_steps", "eval_steps"]
)
@pytest.mark.parametrize("value", [0, -1])
def test_hparams_from_dict_rejects_non_positive_sizes(key: str, value: int) -> None:
    with pytest.raises(ValueError, match=f"model.{key}"):
        Hyperparameters.from_dict({key: value})


@pytest.mark.parametrize("dropout", [-0.1, 1.0, 1.5])
def test_hparams_from_dict_rejects_dropout_outside_unit_interval(dropout: float) -> None:
    with pytest.raises(ValueError, match="dropout"):
        Hyperparameters.from_dict({"dropout": dropout})


@pytest.mark.parametrize("hidden_units", [[0], [16, -4]])
def test_hparams_from_dict_rejects_non_positive_hidden_units(hidden_units) -> None:
    # [0] would build a zero-width deep tower whose output ignores every input.
    with pytest.raises(ValueError, match="hidden_units"):
        Hyperparameters.from_dict({"hidden_units": hidden_units})


def test_hparams_defaults_from_empty_dict() -> None:
    assert Hyperparameters.from_dict({}) == Hyperparameters()


def test_hparams_round_trip() -> None:
    original = Hyperparameters(
        hidden_units=(7, 5, 3),
        embedding_dim=2,
        cross_buckets=11,
        dropout=0.25,
        learning_rate=0.05,
        batch_size=9,
        train_steps=13,
        eval_steps=4,
        seed=123,
    )
    raw = original.to_dict()
    assert raw["hidden_units"] == [7, 5, 3]  # JSON-able list, not a tuple
    restored = Hyperparameters.from_dict(raw)
    assert restored == original
    assert isinstance(restored.hidden_units, tuple)
    assert Hyperparameters.from_dict(dataclasses.asdict(original)) == original


def test_hparams_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        Hyperparameters().batch_size = 1  # type: ignore[misc]
