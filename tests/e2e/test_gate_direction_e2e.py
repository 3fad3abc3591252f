"""A regression trains and is gated lower-is-better; a gate can demand a gain. Real TFX.

Two tiny models are trained here through TFX's own Transform and Trainer executors,
with the pipeline's ``preprocessing_fn`` and ``run_fn``: a regression (mean squared
error) and a binary classifier (AUC), on a few hundred generated rows. TFX's
Evaluator executor then judges each model with the model itself as its baseline,
under eval configs that ``eval_config()`` builds from config sections: a model equal
to its baseline is not blessed when the gate demands a gain (``min_improvement``) and
is blessed when it tolerates a loss (``max_regression``); the first model, with no
baseline, is gated by its bound alone.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from components.model.features import FeatureSpec
from components.model.hparams import Hyperparameters
from pipeline import pipeline as topology
from pipeline.config import DEFAULT_CONFIG, PipelineConfig, load_config
from pipeline.config.evaluation import EvaluationSection
from pipeline.ops.model_gate import ModelGate, model_gate, overall_metrics
from pipeline.views.report import render_gate
from pipeline.views.summary import format_gate

ROWS = {"train": 480, "eval": 160}
SCHEMA = """
feature { name: "x" type: FLOAT presence { min_fraction: 1.0 } shape { dim { size: 1 } } }
feature { name: "c" type: BYTES presence { min_fraction: 1.0 } shape { dim { size: 1 } } }
feature { name: "y_value" type: FLOAT presence { min_fraction: 1.0 } shape { dim { size: 1 } } }
feature { name: "y_class" type: INT presence { min_fraction: 1.0 } shape { dim { size: 1 } } }
"""
REGRESSION = FeatureSpec(
    label="y_value", task="regression", numeric=("x",), categorical=("c",), ignored=("y_class",)
)
BINARY = FeatureSpec(label="y_class", numeric=("x",), categorical=("c",), ignored=("y_value",))
HPARAMS = Hyperparameters(
    hidden_units=(8,), embedding_dim=2, batch_size=32, train_steps=150, eval_steps=4,
    learning_rate=0.05,
)  # fmt: skip
# The regression's label: 3x + an offset per category + noise (variance ~5.8).
OFFSETS = {"a": 0.0, "b": 2.0, "c": -2.0}
MSE = {"metrics": ["ExampleCount", "MeanSquaredError", "MeanAbsoluteError"],
       "gate_metric": "MeanSquaredError", "upper_bound": 3.0}  # fmt: skip
AUC = {"metrics": ["ExampleCount", "AUC"], "gate_metric": "AUC", "lower_bound": 0.6}


def _artifact(kind: Any, uri: Path, splits: tuple[str, ...] = ()) -> Any:
    from tfx.types import artifact_utils

    artifact = kind()
    artifact.uri = str(uri)
    uri.mkdir(parents=True, exist_ok=True)
    if splits:
        artifact.split_names = artifact_utils.encode_split_names(list(splits))
    return artifact


def _write_examples(root: Path) -> Any:
    """Raw tf.Examples in TFX's Examples layout (gzipped TFRecords per split)."""
    import tensorflow as tf
    from tfx.types import standard_artifacts

    rng = np.random.default_rng(7)
    examples = _artifact(standard_artifacts.Examples, root / "examples", tuple(ROWS))
    for split, rows in ROWS.items():
        folder = root / "examples" / f"Split-{split}"
        folder.mkdir()
        path = str(folder / "data_tfrecord-00000-of-00001.gz")
        with tf.io.TFRecordWriter(path, tf.io.TFRecordOptions(compression_type="GZIP")) as out:
            for _ in range(rows):
                x = float(rng.uniform(-1, 1))
                c = str(rng.choice(list(OFFSETS)))
                y = 3 * x + OFFSETS[c] + float(rng.normal(0, 0.3))
                feature = {
                    "x": tf.train.Feature(float_list=tf.train.FloatList(value=[x])),
                    "c": tf.train.Feature(bytes_list=tf.train.BytesList(value=[c.encode()])),
                    "y_value": tf.train.Feature(float_list=tf.train.FloatList(value=[y])),
                    "y_class": tf.train.Feature(int64_list=tf.train.Int64List(value=[int(y > 0)])),
                }
                example = tf.train.Example(features=tf.train.Features(feature=feature))
                out.write(example.SerializeToString())
    return examples


def _beam_context(tmp: Path) -> Any:
    from tfx.dsl.components.base import base_beam_executor

    return base_beam_executor.BaseBeamExecutor.Context(beam_pipeline_args=[], tmp_dir=str(tmp))


def _train(root: Path, examples: Any, schema: Any, spec: FeatureSpec) -> Any:
    """Transform and Trainer as the pipeline runs them (its preprocessing_fn and run_fn)."""
    from tfx.components.trainer import executor as trainer_executor
    from tfx.components.transform import executor as transform_executor
    from tfx.proto import trainer_pb2
    from tfx.types import standard_artifacts
    from tfx.utils import proto_utils

    from components.model.preprocessing import FEATURES_KEY

    custom_config = {FEATURES_KEY: spec.to_dict(), "hyperparameters": HPARAMS.to_dict()}
    graph = _artifact(standard_artifacts.TransformGraph, root / "transform_graph")
    transformed = _artifact(standard_artifacts.Examples, root / "transformed", tuple(ROWS))
    transform_executor.Executor(_beam_context(root / "tmp")).Do(
        {"examples": [examples], "schema": [schema]},
        {"transform_graph": [graph], "transformed_examples": [transformed]},
        {
            "preprocessing_fn": topology.PREPROCESSING_FN,
            "custom_config": json.dumps(custom_config),
            "force_tf_compat_v1": 0,
            "disable_statistics": 1,
        },
    )
    model = _artifact(standard_artifacts.Model, root / "model")
    model_run = _artifact(standard_artifacts.ModelRun, root / "model_run")
    trainer_executor.GenericExecutor().Do(
        {"examples": [transformed], "transform_graph": [graph], "schema": [schema]},
        {"model": [model], "model_run": [model_run]},
        {
            "run_fn": topology.RUN_FN,
            "custom_config": json.dumps(custom_config),
            "train_args": proto_utils.proto_to_json(trainer_pb2.TrainArgs(num_steps=150)),
            "eval_args": proto_utils.proto_to_json(trainer_pb2.EvalArgs(num_steps=4)),
        },
    )
    return model


@dataclasses.dataclass(frozen=True)
class Trained:
    """The generated examples and the two trained models."""

    examples: Any
    regression: Any
    binary: Any


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    """The raw examples, and a regression and a binary model trained on them."""
    from tfx.types import standard_artifacts

    root = tmp_path_factory.mktemp("direction")
    examples = _write_examples(root)
    schema = _artifact(standard_artifacts.Schema, root / "schema")
    (root / "schema" / "schema.pbtxt").write_text(SCHEMA, encoding="utf-8")
    return Trained(
        examples,
        _train(root / "regression", examples, schema, REGRESSION),
        _train(root / "binary", examples, schema, BINARY),
    )


def _config(spec: FeatureSpec, evaluation: dict[str, Any]) -> PipelineConfig:
    """The bundled config with these features and this evaluation section (validated)."""
    section = EvaluationSection.model_validate(evaluation)
    section.check_columns(spec)
    return dataclasses.replace(
        load_config(DEFAULT_CONFIG), features=spec, evaluation=section.typed()
    )


def _evaluate(
    config: PipelineConfig, examples: Any, model: Any, out: Path, baseline: bool = True
) -> tuple[bool, ModelGate, str]:
    """TFX's Evaluator executor on ``model``, with the same model as baseline.

    Returns:
        The blessing artifact's ``blessed``, the gate read from TFMA's output, and
        the evaluation's URI.
    """
    from tfx.components.evaluator import executor
    from tfx.types import standard_artifacts
    from tfx.utils import proto_utils

    inputs = {"examples": [examples], "model": [model]}
    if baseline:
        inputs["baseline_model"] = [model]
    evaluation = _artifact(standard_artifacts.ModelEvaluation, out / "evaluation")
    blessing = _artifact(standard_artifacts.ModelBlessing, out / "blessing")
    executor.Executor(_beam_context(out / "tmp")).Do(
        inputs,
        {"evaluation": [evaluation], "blessing": [blessing]},
        {
            "eval_config": proto_utils.proto_to_json(topology.eval_config(config)),
            "example_splits": "null",
        },
    )
    blessed = blessing.get_int_custom_property("blessed") == 1
    gate = model_gate(evaluation.uri, blessed)
    assert gate is not None
    return blessed, gate, evaluation.uri


def test_the_regression_trains_and_is_evaluated_by_its_error(
    tmp_path: Path, trained: Trained
) -> None:
    """First model (no baseline) under min_improvement: the ceiling alone decides."""
    config = _config(REGRESSION, {**MSE, "min_improvement": {"absolute": 0.01}})
    blessed, gate, uri = _evaluate(
        config, trained.examples, trained.regression, tmp_path, baseline=False
    )
    metrics = overall_metrics(uri)
    assert {"mean_squared_error", "mean_absolute_error", "example_count"} <= set(metrics)
    assert metrics["example_count"] == ROWS["eval"]
    # Predicting the mean scores the label's variance (~5.8); a model that learnt
    # 3x + offset is far below it.
    assert metrics["mean_squared_error"] < 1.0
    assert metrics["mean_absolute_error"] ** 2 <= metrics["mean_squared_error"] + 1e-6
    assert blessed and gate.value_passed is True
    assert gate.metric == "MeanSquaredError" and gate.metric_key == "mean_squared_error"
    assert gate.upper_bound == pytest.approx(3.0) and gate.lower_bound is None
    assert gate.higher_is_better is False
    # TFX dropped the change threshold: there is no baseline to improve on.
    assert gate.allowed_change is None and gate.change_passed is None
    text = format_gate(gate, pushed=True)
    assert text.startswith("Model gate on MeanSquaredError (lower is better; ")
    assert "<= upper bound 3.0000 -> PASS; no baseline (first model), no comparison." in text


@pytest.mark.parametrize(
    ("spec", "evaluation", "blessed", "rule"),
    [
        (REGRESSION, {**MSE, "min_improvement": {"absolute": 0.01}}, False, "by >= 0.0100"),
        (REGRESSION, {**MSE, "min_improvement": {"relative": 0.01}}, False, "by >= 1.00%"),
        (REGRESSION, {**MSE, "max_regression": 0.01}, True, None),
        (BINARY, {**AUC, "min_improvement": {"absolute": 0.01}}, False, "by >= 0.0100"),
        (BINARY, {**AUC, "max_regression": 0.01}, True, None),
    ],
    ids=["mse-gain", "mse-relative-gain", "mse-tolerance", "auc-gain", "auc-tolerance"],
)
def test_a_model_equal_to_its_baseline_is_blessed_only_when_no_gain_is_demanded(
    tmp_path: Path,
    trained: Trained,
    spec: FeatureSpec,
    evaluation: dict[str, Any],
    blessed: bool,
    rule: str | None,
) -> None:
    model = trained.regression if spec is REGRESSION else trained.binary
    result, gate, _ = _evaluate(_config(spec, evaluation), trained.examples, model, tmp_path)

    assert result is blessed and gate.blessed is blessed
    assert gate.value_passed is True  # the bound passes: the verdict is the comparison's
    assert gate.change == pytest.approx(0.0, abs=1e-9)
    assert gate.baseline_value == pytest.approx(gate.value)
    assert gate.change_passed is blessed
    assert gate.higher_is_better is (spec is BINARY)
    text = format_gate(gate, pushed=blessed)
    if rule is None:
        assert "must improve" not in text
        assert f"{'>=' if spec is BINARY else '<='} allowed" in text and "-> PASS." in text
    else:
        assert f"(must improve {rule} over the baseline) -> FAIL." in text
        assert "Not blessed, not pushed; the served model is unchanged." in text
        assert any("change vs baseline" in failure for failure in gate.failures)
        assert "must improve by ≥" in render_gate(gate, blessed)


def test_the_regression_serves_predictions_and_tflite_measures_its_error(
    tmp_path: Path, trained: Trained
) -> None:
    import tensorflow as tf
    from tfx.utils import path_utils

    from components import tflite
    from components.model.exporter import RAW_SIGNATURE, SERVING_SIGNATURE

    saved_model = path_utils.serving_model_path(trained.regression.uri)
    loaded = tf.saved_model.load(saved_model)
    example = tf.train.Example()
    example.features.feature["x"].float_list.value.append(0.5)
    example.features.feature["c"].bytes_list.value.append(b"b")
    outputs = loaded.signatures[SERVING_SIGNATURE](
        examples=tf.constant([example.SerializeToString()])
    )
    assert set(outputs) == {"predictions"}
    # 3 * 0.5 + 2.0: a value no probability could take.
    assert float(outputs["predictions"].numpy()[0][0]) == pytest.approx(3.5, abs=0.75)
    assert set(loaded.signatures[RAW_SIGNATURE].structured_outputs) == {"predictions"}

    eval_files = sorted(str(p) for p in Path(trained.examples.uri, "Split-eval").glob("*.gz"))
    verdict = tflite.convert_and_measure(
        saved_model, eval_files, str(tmp_path / "model.tflite"), "y_value", "MeanSquaredError", 0.05
    )
    measurement = verdict.measurement
    assert measurement is not None, verdict.reason
    assert measurement.examples == ROWS["eval"] and measurement.skipped == 0
    assert 0 < measurement.float_value < 1.0
    assert verdict.within_bound, verdict.reason
