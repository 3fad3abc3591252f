"""Value-level tests of preprocessing_fn with TFT's own test harness (tft_unit)."""

from __future__ import annotations

import math

import tensorflow as tf
from tensorflow_transform.beam import tft_unit
from tensorflow_transform.tf_metadata import dataset_metadata

from components.model.features import FeatureSpec
from components.model.preprocessing import FEATURES_KEY, preprocessing_fn

SPEC = FeatureSpec(
    label="y",
    numeric=("x",),
    categorical=("c",),
    bucketized=(("b", 2),),
    ignored=("id",),
    oov_buckets=1,
)
CUSTOM_CONFIG = {FEATURES_KEY: SPEC.to_dict()}


def _fn(inputs):
    return preprocessing_fn(inputs, CUSTOM_CONFIG)


class PreprocessingFnTest(tft_unit.TransformTestCase):
    # tf.test.TestCase's deprecated `test_session` helper is not a test; hide it
    # from pytest's collection instead of reporting it as skipped.
    test_session = None

    def test_zscore_vocabulary_bucketize_and_label(self) -> None:
        rows = [
            {"x": [1.0], "c": ["a"], "b": [1.0], "y": [0], "id": ["r1"]},
            {"x": [2.0], "c": ["a"], "b": [2.0], "y": [1], "id": ["r2"]},
            {"x": [3.0], "c": ["a"], "b": [3.0], "y": [0], "id": ["r3"]},
            {"x": [2.0], "c": ["b"], "b": [4.0], "y": [1], "id": ["r4"]},
        ]
        metadata = dataset_metadata.DatasetMetadata.from_feature_spec(
            {
                "x": tf.io.FixedLenFeature([1], tf.float32),
                "c": tf.io.FixedLenFeature([1], tf.string),
                "b": tf.io.FixedLenFeature([1], tf.float32),
                "y": tf.io.FixedLenFeature([1], tf.int64),
                "id": tf.io.FixedLenFeature([1], tf.string),
            }
        )
        std = math.sqrt(0.5)  # values 1,2,3,2: mean 2, variance 0.5
        expected = [
            {"x_xf": -1 / std, "c_xf": 0, "b_xf": 0, "y_xf": 0},
            {"x_xf": 0.0, "c_xf": 0, "b_xf": 0, "y_xf": 1},
            {"x_xf": 1 / std, "c_xf": 0, "b_xf": 1, "y_xf": 0},
            {"x_xf": 0.0, "c_xf": 1, "b_xf": 1, "y_xf": 1},
        ]
        self.assertAnalyzeAndTransformResults(
            rows, metadata, _fn, expected, expected_vocab_file_contents={"c": [b"a", b"b"]}
        )

    def test_unseen_category_goes_to_oov_bucket(self) -> None:
        metadata = dataset_metadata.DatasetMetadata.from_feature_spec(
            {
                "x": tf.io.FixedLenFeature([1], tf.float32),
                "c": tf.io.FixedLenFeature([1], tf.string),
                "b": tf.io.FixedLenFeature([1], tf.float32),
                "y": tf.io.FixedLenFeature([1], tf.int64),
            }
        )
        train = [
            {"x": [0.0], "c": ["a"], "b": [0.0], "y": [0]},
            {"x": [2.0], "c": ["a"], "b": [1.0], "y": [1]},
        ]
        test = [{"x": [1.0], "c": ["never-seen"], "b": [5.0], "y": [0]}]
        # Vocabulary {a} has size 1, so the single OOV bucket is id 1.
        expected = [{"x_xf": 0.0, "c_xf": 1, "b_xf": 1, "y_xf": 0}]
        self.assertAnalyzeAndTransformResults(train, metadata, _fn, expected, test_data=test)

    def test_missing_numeric_values_are_imputed_with_the_mean(self) -> None:
        spec = FeatureSpec(label="y", numeric=("x",))
        metadata = dataset_metadata.DatasetMetadata.from_feature_spec(
            {"x": tf.io.VarLenFeature(tf.float32), "y": tf.io.FixedLenFeature([1], tf.int64)}
        )
        rows = [{"x": [1.0], "y": [0]}, {"x": [3.0], "y": [1]}, {"x": [], "y": [0]}]
        # Imputed with mean(1, 3) = 2, so the scaled column is -1, 1, 0 (z-score over 1, 3, 2).
        std = math.sqrt(2 / 3)
        expected = [
            {"x_xf": -1 / std, "y_xf": 0},
            {"x_xf": 1 / std, "y_xf": 1},
            {"x_xf": 0.0, "y_xf": 0},
        ]
        self.assertAnalyzeAndTransformResults(
            rows,
            metadata,
            lambda inputs: preprocessing_fn(inputs, {FEATURES_KEY: spec.to_dict()}),
            expected,
        )

    def test_serving_inputs_without_label_still_transform(self) -> None:
        spec = {FEATURES_KEY: FeatureSpec(label="y", numeric=("x",)).to_dict()}
        rows = [{"x": [0.0]}, {"x": [2.0]}]
        no_label = dataset_metadata.DatasetMetadata.from_feature_spec(
            {"x": tf.io.FixedLenFeature([1], tf.float32)}
        )
        self.assertAnalyzeAndTransformResults(
            rows,
            no_label,
            lambda inputs: preprocessing_fn(inputs, spec),
            [{"x_xf": -1.0}, {"x_xf": 1.0}],
        )

    def test_a_regression_label_stays_a_float(self) -> None:
        spec = {FEATURES_KEY: FeatureSpec(label="y", task="regression", numeric=("x",)).to_dict()}
        metadata = dataset_metadata.DatasetMetadata.from_feature_spec(
            {
                "x": tf.io.FixedLenFeature([1], tf.float32),
                "y": tf.io.FixedLenFeature([1], tf.float32),
            }
        )
        rows = [{"x": [0.0], "y": [151.25]}, {"x": [2.0], "y": [-0.5]}]
        # A class label would be cast to int64 (151, 0); a regression keeps the value.
        self.assertAnalyzeAndTransformResults(
            rows,
            metadata,
            lambda inputs: preprocessing_fn(inputs, spec),
            [{"x_xf": -1.0, "y_xf": 151.25}, {"x_xf": 1.0, "y_xf": -0.5}],
        )


if __name__ == "__main__":
    tft_unit.main()
