"""Validation and serialisation of the feature spec (components.model.features)."""

from __future__ import annotations

import dataclasses
import json

import pytest

from components.model.features import FeatureSpec, transformed_name

FULL = FeatureSpec(
    label="clicked",
    task="binary",
    num_classes=2,
    numeric=("price", "rating"),
    categorical=("device", "region"),
    bucketized=(("hour", 6), ("position", 3)),
    crosses=(("device", "hour"), ("device", "region", "position")),
    ignored=("impression_id",),
    vocab_top_k=50,
    oov_buckets=2,
)


def test_valid_spec_builds() -> None:
    assert FULL.model_features == ("price", "rating", "device", "region", "hour", "position")


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("numeric", "categorical"),
        ("categorical", "ignored"),
        ("numeric", "bucketized"),
    ],
)
def test_column_listed_twice_raises_naming_it(first: str, second: str) -> None:
    groups = {"numeric": (), "categorical": (), "bucketized": (), "ignored": ()}
    groups[first] = ("price",)
    groups[second] = (("price", 4),) if second == "bucketized" else ("price",)
    with pytest.raises(ValueError, match="'price'") as info:
        FeatureSpec(label="y", **groups)
    assert first in str(info.value) and second in str(info.value)


def test_label_also_used_as_feature_raises() -> None:
    with pytest.raises(ValueError, match="'y'.*label"):
        FeatureSpec(label="y", numeric=("y", "x"))


def test_binary_with_three_classes_raises() -> None:
    with pytest.raises(ValueError, match="num_classes is 3.*binary"):
        FeatureSpec(label="y", task="binary", num_classes=3, numeric=("x",))


def test_multiclass_with_two_classes_raises() -> None:
    with pytest.raises(ValueError, match="num_classes is 2.*multiclass"):
        FeatureSpec(label="y", task="multiclass", num_classes=2, numeric=("x",))


def test_multiclass_with_three_classes_is_fine() -> None:
    spec = FeatureSpec(label="y", task="multiclass", num_classes=3, numeric=("x",))
    assert spec.num_classes == 3


def test_unknown_task_raises() -> None:
    with pytest.raises(
        ValueError, match="'ranking', expected one of binary, multiclass, regression"
    ):
        FeatureSpec(label="y", task="ranking", numeric=("x",))


def test_regression_has_one_output_and_no_classes() -> None:
    spec = FeatureSpec.from_dict({"label": "y", "task": "regression", "numeric": ["x"]})
    assert (spec.task, spec.num_classes, spec.output_units) == ("regression", 1, 1)
    assert FeatureSpec.from_dict(spec.to_dict()) == spec
    assert FeatureSpec(label="y", task="regression", numeric=("x",)) == spec


def test_regression_with_classes_says_to_leave_them_out() -> None:
    with pytest.raises(ValueError, match="num_classes is 2, but a regression predicts one number"):
        FeatureSpec.from_dict(
            {"label": "y", "task": "regression", "num_classes": 2, "numeric": ["x"]}
        )


def test_num_classes_defaults_by_task_and_multiclass_must_state_it() -> None:
    assert FeatureSpec(label="y", numeric=("x",)).num_classes == 2
    assert FeatureSpec(label="y", numeric=("x",)).output_units == 1
    with pytest.raises(ValueError, match="num_classes is required for a multiclass task"):
        FeatureSpec.from_dict({"label": "y", "task": "multiclass", "numeric": ["x"]})
    spec = FeatureSpec(label="y", task="multiclass", num_classes=4, numeric=("x",))
    assert spec.output_units == 4


def test_cross_using_a_numeric_column_raises() -> None:
    with pytest.raises(ValueError, match="'price'.*not a categorical or bucketized"):
        FeatureSpec(
            label="y", numeric=("price",), categorical=("device",), crosses=(("device", "price"),)
        )


def test_cross_of_one_column_raises() -> None:
    with pytest.raises(ValueError, match="at least two columns"):
        FeatureSpec(label="y", categorical=("device",), crosses=(("device",),))


@pytest.mark.parametrize("buckets", [1, 0, -3])
def test_bucketized_with_fewer_than_two_buckets_raises(buckets: int) -> None:
    with pytest.raises(ValueError, match=f"'hour' needs at least 2 buckets, got {buckets}"):
        FeatureSpec(label="y", bucketized=(("hour", buckets),))


def test_no_model_features_raises() -> None:
    with pytest.raises(ValueError, match="no model features"):
        FeatureSpec(label="y", ignored=("id",))


def test_zero_oov_buckets_raises() -> None:
    with pytest.raises(ValueError, match="oov_buckets"):
        FeatureSpec(label="y", categorical=("c",), oov_buckets=0)


def test_all_problems_are_reported_together() -> None:
    with pytest.raises(ValueError) as info:
        FeatureSpec(label="y", task="binary", num_classes=5, bucketized=(("h", 1),))
    message = str(info.value)
    assert "num_classes is 5" in message and "'h' needs at least 2 buckets" in message


def test_from_dict_unknown_key_raises_naming_it() -> None:
    raw = {**FULL.to_dict(), "numerc": ["x"]}
    with pytest.raises(ValueError, match="numerc"):
        FeatureSpec.from_dict(raw)


def test_from_dict_requires_label() -> None:
    raw = FULL.to_dict()
    del raw["label"]
    with pytest.raises(ValueError, match="features.label"):
        FeatureSpec.from_dict(raw)


def test_from_dict_bucketized_must_be_a_mapping() -> None:
    with pytest.raises(ValueError, match="bucketized"):
        FeatureSpec.from_dict({"label": "y", "bucketized": [["hour", 6]]})


def test_to_dict_from_dict_round_trips() -> None:
    raw = FULL.to_dict()
    # custom_config travels through JSON, so the dict must survive it unchanged.
    assert json.loads(json.dumps(raw)) == raw
    assert FeatureSpec.from_dict(raw) == FULL
    assert FeatureSpec.from_dict(json.loads(json.dumps(raw))) == FULL


def test_from_dict_of_yaml_like_lists_matches_tuples() -> None:
    spec = FeatureSpec.from_dict(
        {
            "label": "clicked",
            "numeric": ["price", "rating"],
            "categorical": ["device", "region"],
            "bucketized": {"hour": 6, "position": 3},
            "crosses": [["device", "hour"], ["device", "region", "position"]],
            "ignored": ["impression_id"],
            "vocab_top_k": 50,
            "oov_buckets": 2,
        }
    )
    assert spec == FULL
    assert isinstance(spec.numeric, tuple) and isinstance(spec.crosses[0], tuple)


def test_from_dict_defaults() -> None:
    spec = FeatureSpec.from_dict({"label": "y", "numeric": ["x"]})
    assert (spec.task, spec.num_classes, spec.vocab_top_k, spec.oov_buckets) == (
        "binary",
        2,
        1000,
        1,
    )


def test_model_features_order_is_numeric_categorical_bucketized() -> None:
    spec = FeatureSpec(
        label="y",
        bucketized=(("b2", 3), ("b1", 2)),
        categorical=("c2", "c1"),
        numeric=("n2", "n1"),
        ignored=("id",),
    )
    assert spec.model_features == ("n2", "n1", "c2", "c1", "b2", "b1")
    assert "y" not in spec.model_features and "id" not in spec.model_features


def test_transformed_names() -> None:
    assert transformed_name("price") == "price_xf"
    assert FULL.transformed_label == "clicked_xf"


def test_spec_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        FULL.label = "other"  # type: ignore[misc]


def test_column_names_must_be_valid_tensorflow_names() -> None:
    # sklearn's wine table names a column "od280/od315_of_diluted_wines"; a slash
    # would break the Keras input built for it, so the config is rejected up front.
    with pytest.raises(ValueError, match="od280/od315.*not a valid TensorFlow name"):
        FeatureSpec(label="target", numeric=("od280/od315",))
