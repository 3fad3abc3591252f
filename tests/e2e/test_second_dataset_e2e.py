"""A differently shaped dataset (scikit-learn's 3-class wine table) needs only a config
and a schema: the same pipeline and components, no code change. Run through the CLI,
as a data scientist would, so the printed summary is checked too."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import tensorflow as tf

from pipeline import nodes
from pipeline.config import load_config
from pipeline.devtools.example_data import write_wine


def test_wine_multiclass_pipeline_runs_blesses_and_serves(repo: Path, tmp_path: Path) -> None:
    config_path = repo / "pipeline" / "configs" / "wine.yaml"
    config = load_config(config_path)
    write_wine(tmp_path / "data", spans=2)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIPELINE_")}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipeline",
            "run",
            "--config",
            str(config_path),
            "--data-root",
            str(tmp_path / "data"),
            "--output-root",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout

    # The summary: every component ran (span-1 backfilled first), metrics, blessing, push.
    assert "Validated older spans of the training window first: 1" in out
    for node in (nodes.EXAMPLE_GEN, nodes.TRANSFORM, nodes.TRAINER, nodes.EVALUATOR, nodes.PUSHER):
        assert re.search(rf"^\s+{node}\s+ran\s+\d+\.\d$", out, re.M), out
    accuracy = float(re.search(r"sparse_categorical_accuracy\s+([\d.]+)", out).group(1))
    assert accuracy >= config.evaluation.lower_bound
    assert "Blessed: yes (baseline: none (first model))" in out
    pushed = Path(re.search(r"^Pushed to: (.+)$", out, re.M).group(1))
    assert pushed.parent == tmp_path / "out" / "serving" / "wine"
    # TFLite on a multiclass model: measured with the gate metric (accuracy), pushed.
    assert re.search(
        rf"^TFLite: .*SparseCategoricalAccuracy float [\d.]+, TFLite [\d.]+, delta .*"
        rf"-> pushed as {re.escape(str(pushed))}/model.tflite\.$",
        out,
        re.M,
    ), out
    assert (pushed / "model.tflite").is_file()

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
    serve = tf.saved_model.load(str(pushed)).signatures["serving_default"]
    probabilities = serve(examples=tf.constant([example, example]))["probabilities"].numpy()
    assert probabilities.shape == (2, 3)
    assert abs(probabilities.sum(axis=1) - 1).max() < 1e-5
