"""A differently shaped dataset (scikit-learn's 3-class wine table) needs only a config
and a schema: the same pipeline and components, no code change."""

from __future__ import annotations

from pathlib import Path

import pytest
import tensorflow as tf

from pipeline.config import load_config, with_env_overrides
from pipeline.example_data import write_wine
from pipeline.local_runner import run

pytestmark = pytest.mark.e2e


def test_wine_multiclass_pipeline_runs_blesses_and_serves(repo: Path, tmp_path: Path) -> None:
    write_wine(tmp_path / "data", spans=2)
    config = with_env_overrides(
        load_config(repo / "pipeline" / "configs" / "wine.yaml"),
        {"PIPELINE_DATA_ROOT": str(tmp_path / "data"), "PIPELINE_OUTPUT_ROOT": str(tmp_path / "out")},
    )
    summary = run(config)

    assert {node.state for node in summary.nodes} <= {"ran", "resolved"}
    assert summary.metrics["sparse_categorical_accuracy"] >= config.evaluation.lower_bound
    assert summary.blessed and summary.pushed
    assert Path(summary.pushed_destination).parent == tmp_path / "out" / "serving" / "wine"

    # Serving: raw numeric columns in, three class probabilities out.
    feature_names = config.features.numeric + tuple(name for name, _ in config.features.bucketized)
    example = tf.train.Example(
        features=tf.train.Features(
            feature={
                name: tf.train.Feature(float_list=tf.train.FloatList(value=[1.0]))
                for name in feature_names
            }
        )
    ).SerializeToString()
    serve = tf.saved_model.load(summary.pushed_destination).signatures["serving_default"]
    probabilities = serve(examples=tf.constant([example, example]))["probabilities"].numpy()
    assert probabilities.shape == (2, 3)
    assert abs(probabilities.sum(axis=1) - 1).max() < 1e-5
