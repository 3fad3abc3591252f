"""Warm start and TensorBoard logs on the session's real pipeline runs.

The first model has nothing to start from; the next day's model starts from the
first (blessed) model's weights; a model whose variables changed shape starts
fresh and says which variable. The Trainer writes TensorBoard logs into its
ModelRun, and the summary prints the command to open them.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft

from components.model.model import build_model
from components.model.training import cardinalities
from components.model.warm_start import DECISION_FILE, WarmStart, warm_start
from pipeline.mlmd import connection as metadata
from pipeline.views.summary import format_summary
from tests.support.data import Runs


@pytest.fixture(scope="module")
def runs(clicks_runs: Runs) -> Runs:
    return clicks_runs


def _serving_dir(model_uri: str) -> str:
    return os.path.join(model_uri, "Format-Serving")


@pytest.fixture(scope="module")
def transform_output(runs: Runs) -> tft.TFTransformOutput:
    store = metadata.open_store(runs.config)
    graphs = store.get_artifacts_by_type("TransformGraph")
    return tft.TFTransformOutput(max(graphs, key=lambda a: a.id).uri)


def test_first_model_starts_fresh_and_the_next_day_warm_starts_from_it(runs: Runs) -> None:
    assert runs.config.training.warm_start is True
    assert runs.first.warm_start == "no model was blessed before this span"
    assert runs.first.blessed is True
    assert runs.new_span.warm_start == f"warm-started from {_serving_dir(runs.first.model_uri)}"
    assert "Training: warm-started from" in format_summary(runs.new_span)


def test_rerun_resolves_the_same_base_model_so_training_is_a_cache_hit(runs: Runs) -> None:
    # The first run's own model was blessed between the two runs; a warm start from
    # "latest blessed" would have changed the Trainer's inputs and retrained.
    assert runs.rerun.node("warm_start_model").state == "resolved"
    assert runs.rerun.node("Trainer").state == "cached"
    assert runs.rerun.warm_start == runs.first.warm_start


def test_matching_variables_are_loaded_from_the_base_model(
    runs: Runs, transform_output: tft.TFTransformOutput
) -> None:
    spec = runs.config.features
    model = build_model(spec, cardinalities(spec, transform_output), runs.config.model)
    base = _serving_dir(runs.new_span.model_uri)
    decision = warm_start(model, base)
    assert decision == WarmStart(True, base, f"warm-started from {base}")
    restored = {v.name: v.numpy() for v in tf.saved_model.load(base).variables}
    assert len(model.weights) == len(restored) > 0
    for weight in model.weights:
        np.testing.assert_array_equal(weight.numpy(), restored[weight.name])


def test_a_changed_shape_starts_fresh_and_names_the_variable(
    runs: Runs, transform_output: tft.TFTransformOutput
) -> None:
    spec = runs.config.features
    hparams = dataclasses.replace(runs.config.model, hidden_units=(8,))
    model = build_model(spec, cardinalities(spec, transform_output), hparams)
    before = [w.numpy() for w in model.weights]
    decision = warm_start(model, _serving_dir(runs.new_span.model_uri))
    assert not decision.warm_started
    assert decision.reason.startswith("started fresh: deep_0/kernel has shape (22, 8) now but")
    for weight, value in zip(model.weights, before, strict=True):
        np.testing.assert_array_equal(weight.numpy(), value)


def test_warm_start_off_or_no_base_model_starts_fresh(
    runs: Runs, transform_output: tft.TFTransformOutput
) -> None:
    spec = runs.config.features
    model = build_model(spec, cardinalities(spec, transform_output), runs.config.model)
    off = warm_start(model, _serving_dir(runs.new_span.model_uri), enabled=False)
    assert off == WarmStart(False, None, "warm start is off (training.warm_start: false)")
    assert not warm_start(model, None).warm_started


def test_decision_is_recorded_in_the_model_run(runs: Runs) -> None:
    recorded = Path(runs.new_span.model_run_uri, DECISION_FILE).read_text()
    decision = WarmStart.from_json(recorded)
    assert decision.warm_started
    assert json.loads(recorded)["base_model"] == _serving_dir(runs.first.model_uri)


def _scalar_tags(log_dir: Path) -> set[str]:
    tags = set()
    for events in log_dir.glob("events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(str(events)):
            tags.update(value.tag for value in event.summary.value)
    return tags


@pytest.mark.parametrize("run_name", ["first", "new_span"])
def test_trainer_writes_tensorboard_logs_into_its_model_run(runs: Runs, run_name: str) -> None:
    summary = getattr(runs, run_name)
    model_run = Path(summary.model_run_uri)
    assert model_run.parent.name == "model_run"  # the Trainer's ModelRun artifact
    assert {"epoch_loss", "epoch_auc"} <= _scalar_tags(model_run / "train")
    assert {"epoch_loss", "epoch_auc"} <= _scalar_tags(model_run / "validation")
    assert f"TensorBoard: tensorboard --logdir {model_run}" in format_summary(summary)
