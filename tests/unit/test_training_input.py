"""The Trainer's input: ``model.train_epochs`` (steps from the newest span's row count)
and the raw-window input pipeline that applies Transform's graph."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
from tensorflow_transform.tf_metadata import dataset_metadata, metadata_io
from tfx.components.trainer.fn_args_utils import DataAccessor
from tfx.components.util import tfxio_utils
from tfx.types import standard_artifacts

from components.model.features import FeatureSpec, transformed_name
from components.model.hparams import Hyperparameters
from components.model.model import build_model
from components.model.preprocessing import FEATURES_KEY, preprocessing_fn
from components.model.training import cardinalities, count_examples, epoch_steps, raw_input_fn

# --- model.train_epochs ------------------------------------------------------------


def test_train_epochs_is_off_by_default() -> None:
    assert Hyperparameters().train_epochs == 0.0


def test_train_epochs_reads_an_int_as_the_same_float() -> None:
    # 1 and 1.0 in YAML must be one Trainer cache key (custom_config).
    assert Hyperparameters.from_dict({"train_epochs": 1}).to_dict()["train_epochs"] == 1.0
    assert Hyperparameters.from_dict({"train_epochs": 0.5}).train_epochs == 0.5


@pytest.mark.parametrize("value", [-1, 101, "many", None, float("nan")])
def test_train_epochs_out_of_range_is_refused(value) -> None:
    with pytest.raises(ValueError, match="model.train_epochs must be a number from 0"):
        Hyperparameters.from_dict({"train_epochs": value})


def _write_examples(path: Path, rows: int, compressed: bool = True) -> None:
    options = tf.io.TFRecordOptions(compression_type="GZIP" if compressed else "")
    with tf.io.TFRecordWriter(str(path), options) as writer:
        for i in range(rows):
            example = tf.train.Example(
                features=tf.train.Features(
                    feature={"x": tf.train.Feature(float_list=tf.train.FloatList(value=[i]))}
                )
            )
            writer.write(example.SerializeToString())


def test_count_examples_counts_every_file_of_the_split(tmp_path: Path) -> None:
    _write_examples(tmp_path / "data_tfrecord-00000-of-00002.gz", 700)
    _write_examples(tmp_path / "data_tfrecord-00001-of-00002.gz", 300)
    assert count_examples(str(tmp_path / "*")) == 1000


def test_count_examples_reads_uncompressed_files_too(tmp_path: Path) -> None:
    _write_examples(tmp_path / "part-0.gz", 10)
    _write_examples(tmp_path / "part-1.tfrecord", 5, compressed=False)
    assert count_examples(str(tmp_path / "*")) == 15


def test_a_small_day_keeps_train_steps(tmp_path: Path) -> None:
    # 5,000 rows a day, 4,000 in train: one epoch is 16 steps of 256, far below 300.
    _write_examples(tmp_path / "train.gz", 4000)
    assert epoch_steps(300, 1.0, str(tmp_path / "*"), 256) == 300


def test_a_big_day_trains_at_least_one_epoch(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _write_examples(tmp_path / "train.gz", 80_001)
    with caplog.at_level("INFO", logger="absl"):
        assert epoch_steps(300, 1.0, str(tmp_path / "*"), 256) == math.ceil(80_001 / 256)
        assert epoch_steps(300, 2.5, str(tmp_path / "*"), 256) == math.ceil(2.5 * 80_001 / 256)
    assert "80001 rows in the newest span's train split" in caplog.text


def test_epochs_off_counts_nothing() -> None:
    # No such files: with train_epochs 0 they are never read.
    assert epoch_steps(300, 0.0, "/nonexistent/Split-train/*", 256) == 300


# --- Transform's graph applied to the raw window --------------------------------------

SPEC = FeatureSpec(
    label="y",
    numeric=("x",),
    categorical=("c",),
    bucketized=(("b", 2),),
    crosses=(("c", "b"),),
    ignored=("id",),
)
RAW_FEATURES = {
    "x": tf.io.FixedLenFeature([1], tf.float32),
    "c": tf.io.FixedLenFeature([1], tf.string),
    "b": tf.io.FixedLenFeature([1], tf.float32),
    "y": tf.io.FixedLenFeature([1], tf.int64),
    "id": tf.io.FixedLenFeature([1], tf.string),
}


def _rows(count: int) -> list[dict]:
    rng = np.random.default_rng(3)
    return [
        {
            "x": [float(rng.normal())],
            "c": [rng.choice(["a", "b", "c"])],
            "b": [float(rng.uniform(0, 10))],
            "y": [int(rng.integers(0, 2))],
            "id": [f"row-{i}"],
        }
        for i in range(count)
    ]


def _example(row: dict) -> bytes:
    def feature(value):
        if isinstance(value[0], str):
            return tf.train.Feature(
                bytes_list=tf.train.BytesList(value=[v.encode() for v in value])
            )
        if isinstance(value[0], float):
            return tf.train.Feature(float_list=tf.train.FloatList(value=value))
        return tf.train.Feature(int64_list=tf.train.Int64List(value=value))

    features = {key: feature(value) for key, value in row.items()}
    return tf.train.Example(features=tf.train.Features(feature=features)).SerializeToString()


def _examples_artifact(root: Path, split: str, records: list[bytes]) -> str:
    split_dir = root / f"Split-{split}"
    split_dir.mkdir(parents=True)
    options = tf.io.TFRecordOptions(compression_type="GZIP")
    with tf.io.TFRecordWriter(str(split_dir / "data.gz"), options) as writer:
        for record in records:
            writer.write(record)
    return str(split_dir / "*")


def test_raw_input_equals_transforming_in_beam(tmp_path: Path) -> None:
    # Transform's Beam analysis and materialisation of the same rows are the
    # reference; the Trainer's in-pipeline transformation must give the same batch.
    rows = _rows(64)
    metadata = dataset_metadata.DatasetMetadata.from_feature_spec(RAW_FEATURES)
    custom_config = {FEATURES_KEY: SPEC.to_dict()}
    with tft_beam.Context(temp_dir=str(tmp_path / "tmp"), force_tf_compat_v1=False):
        (materialised, _), transform_fn = (rows, metadata) | tft_beam.AnalyzeAndTransformDataset(
            lambda inputs: preprocessing_fn(inputs, custom_config)
        )
        _ = transform_fn | tft_beam.WriteTransformFn(str(tmp_path / "graph"))
    # TFX's Transform also writes the raw schema next to the graph.
    metadata_io.write_metadata(
        metadata, str(tmp_path / "graph" / tft.TFTransformOutput.RAW_METADATA_DIR)
    )
    output = tft.TFTransformOutput(str(tmp_path / "graph"))

    examples = standard_artifacts.Examples()
    examples.uri = str(tmp_path / "examples")
    examples.split_names = '["train"]'
    pattern = _examples_artifact(tmp_path / "examples", "train", [_example(r) for r in rows])
    accessor = DataAccessor(
        tf_dataset_factory=tfxio_utils.get_tf_dataset_factory_from_artifact([examples], []),
        record_batch_factory=None,
        data_view_decode_fn=None,
    )
    dataset = raw_input_fn([pattern], accessor, output, SPEC, batch_size=64, seed=None)
    features, label = next(iter(dataset))
    # Shuffled: compare as rows keyed by the label and every feature.
    got = sorted(
        zip(
            label.numpy().ravel().tolist(),
            *(
                features[transformed_name(k)].numpy().astype("float64").ravel().round(4).tolist()
                for k in "xcb"
            ),
            strict=True,
        )
    )
    want = sorted(
        (
            int(np.ravel(row[SPEC.transformed_label])[0]),
            *(round(float(np.ravel(row[transformed_name(k)])[0]), 4) for k in "xcb"),
        )
        for row in materialised
    )
    assert got == want
    # Only what the model reads: no ignored column, no raw name.
    assert set(features) == {transformed_name(k) for k in "xcb"}
    # The Wide & Deep model trains on it (its crosses need equal input shapes).
    model = build_model(SPEC, cardinalities(SPEC, output), Hyperparameters(hidden_units=(4,)))
    history = model.fit(dataset, steps_per_epoch=2, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][-1])
