"""The model gate's direction and demanded gain: config keys, the TFMA eval config
built from them, and how the summary and the report say them (no model is evaluated
here; tests/e2e/test_gate_direction_e2e.py runs TFMA on real models)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import tensorflow_model_analysis as tfma

from pipeline import pipeline as topology
from pipeline.config import MinImprovement, PipelineConfig, SliceThreshold, load_config
from pipeline.config.evaluation import METRIC_DIRECTIONS, REGRESSION_METRICS
from pipeline.ops.model_gate import ModelGate, SliceCheck
from pipeline.views.report import render_gate
from pipeline.views.summary import format_gate, improvement_rule
from tests.support.config import Raw, expect_config_error, write_config

REGRESSION_METRICS_LIST = ["ExampleCount", "MeanSquaredError", "MeanAbsoluteError"]


def _regression(raw: Raw, **evaluation: Any) -> None:
    """clicks.yaml as a regression on ``rating`` gated on MSE, with ``evaluation`` keys."""
    features = raw["features"]
    features["label"] = "rating"
    features["task"] = "regression"
    del features["num_classes"]
    features["numeric"] = [c for c in features["numeric"] if c != "rating"]
    features["ignored"].append("clicked")
    raw["evaluation"] = {
        "metrics": REGRESSION_METRICS_LIST,
        "gate_metric": "MeanSquaredError",
        **evaluation,
    }


def _write(tmp_path: Path, regression: bool, **evaluation: Any) -> Path:
    def mutate(raw: Raw) -> None:
        if regression:
            _regression(raw, **evaluation)
        else:
            raw["evaluation"].pop("max_regression")
            raw["evaluation"].update(evaluation)

    return write_config(tmp_path, mutate)


def _load(tmp_path: Path, regression: bool, **evaluation: Any) -> PipelineConfig:
    return load_config(_write(tmp_path, regression, **evaluation))


def _gate_threshold(config: PipelineConfig, index: int = 0) -> Any:
    (spec,) = topology.eval_config(config).metrics_specs
    (gated,) = [m for m in spec.metrics if m.per_slice_thresholds]
    return gated.per_slice_thresholds[index].threshold


# --- the direction table -----------------------------------------------------------------


def test_every_regression_metric_is_lower_is_better_and_known_to_tfma_or_keras() -> None:
    import tf_keras as keras

    assert {METRIC_DIRECTIONS[name] for name in REGRESSION_METRICS} == {"lower"}
    for name in METRIC_DIRECTIONS:
        assert hasattr(tfma.metrics, name) or hasattr(keras.metrics, name), name


# --- config ------------------------------------------------------------------------------


def test_a_regression_gate_reads_lower_is_better_with_a_ceiling(tmp_path: Path) -> None:
    config = _load(tmp_path, True, upper_bound=2.5, max_regression=0.1)
    evaluation = config.evaluation
    assert config.features.task == "regression" and config.features.num_classes == 1
    assert (evaluation.direction, evaluation.higher_is_better) == ("lower", False)
    assert (evaluation.lower_bound, evaluation.upper_bound) == (None, 2.5)
    assert evaluation.max_regression == pytest.approx(0.1)
    assert evaluation.min_improvement is None


def test_without_a_tolerance_or_a_gain_the_gate_means_not_worse(tmp_path: Path) -> None:
    config = _load(tmp_path, False, lower_bound=0.6)
    assert config.evaluation.max_regression == 0.0
    assert config.evaluation.direction == "higher"


def test_min_improvement_replaces_the_default_tolerance(tmp_path: Path) -> None:
    config = _load(tmp_path, False, min_improvement={"relative": 0.01})
    assert config.evaluation.max_regression is None
    assert config.evaluation.min_improvement == MinImprovement(relative=0.01)


def test_slice_entries_take_upper_bound_and_min_improvement(tmp_path: Path) -> None:
    entries = [
        {"slice": {"device": None}, "upper_bound": 3.0, "min_improvement": {"absolute": 0.05}},
        {"slice": {"region": "eu"}, "max_regression": 0.2},
    ]
    config = _load(tmp_path, True, upper_bound=2.5, slice_thresholds=entries)
    assert config.evaluation.slice_thresholds == (
        SliceThreshold(
            columns=("device",), upper_bound=3.0, min_improvement=MinImprovement(absolute=0.05)
        ),
        SliceThreshold(values=(("region", "eu"),), max_regression=0.2),
    )


def test_an_unknown_metric_needs_an_explicit_direction(tmp_path: Path) -> None:
    def mutate(raw: Raw) -> None:
        raw["evaluation"]["gate_metric"] = "MeanPrediction"
        raw["evaluation"].pop("direction", None)

    expect_config_error(
        write_config(tmp_path, mutate),
        "evaluation.gate_metric 'MeanPrediction' has no known direction",
        "set evaluation.direction to higher",
    )

    def explicit(raw: Raw) -> None:
        raw["evaluation"].update(gate_metric="MeanPrediction", direction="lower")
        raw["evaluation"]["upper_bound"] = raw["evaluation"].pop("lower_bound")
        raw["evaluation"]["slice_thresholds"] = []

    assert load_config(write_config(tmp_path, explicit, "ok.yaml")).evaluation.direction == "lower"


@pytest.mark.parametrize(
    ("regression", "evaluation", "fragments"),
    [
        (
            True,
            {"lower_bound": 1.0},
            [
                "evaluation.lower_bound is set, but MeanSquaredError is lower-is-better",
                "upper_bound",
            ],
        ),
        (True, {}, ["evaluation.upper_bound is required", "first model"]),
        (
            False,
            {"upper_bound": 0.9},
            ["evaluation.upper_bound is set, but AUC is higher-is-better", "use lower_bound"],
        ),
        (
            False,
            {"max_regression": 0.01, "min_improvement": {"absolute": 0.01}},
            ["evaluation sets both max_regression and min_improvement", "keep one"],
        ),
        (
            False,
            {"min_improvement": {}},
            ["evaluation.min_improvement needs absolute", "or relative"],
        ),
        (
            False,
            {"slice_thresholds": [{"slice": {"device": None}, "min_improvement": {}}]},
            ["evaluation.slice_thresholds[0].min_improvement needs absolute"],
        ),
        (
            False,
            {"min_improvement": {"absolute": 0}},
            [
                "evaluation.min_improvement.absolute must be a finite number > 0",
                "max_regression: 0",
            ],
        ),
        (False, {"min_improvement": 0.01}, ["evaluation.min_improvement must be a mapping"]),
        (
            False,
            {"min_improvement": {"percent": 1}},
            ["evaluation.min_improvement keys ['percent']"],
        ),
        (False, {"direction": "lower"}, ["evaluation.direction is 'lower', but AUC is higher"]),
        (False, {"direction": "up"}, ["evaluation.direction must be higher or lower"]),
        (
            True,
            {
                "upper_bound": 3.0,
                "slice_thresholds": [{"slice": {"device": None}, "lower_bound": 1}],
            },
            ["evaluation.slice_thresholds[0].lower_bound is set, but MeanSquaredError"],
        ),
        (
            True,
            {
                "upper_bound": 3.0,
                "slice_thresholds": [
                    {
                        "slice": {"device": None},
                        "max_regression": 0.1,
                        "min_improvement": {"relative": 0.01},
                    }
                ],
            },
            ["evaluation.slice_thresholds[0] sets both max_regression and min_improvement"],
        ),
        (
            True,
            {"upper_bound": 3.0, "slice_thresholds": [{"slice": {"device": None}}]},
            ["[0] (slice device=*) needs upper_bound, max_regression or min_improvement"],
        ),
    ],
)
def test_bad_gates_say_what_the_direction_allows(
    tmp_path: Path, regression: bool, evaluation: dict[str, Any], fragments: list[str]
) -> None:
    expect_config_error(_write(tmp_path, regression, **evaluation), *fragments)


def test_a_class_metric_cannot_gate_a_regression(tmp_path: Path) -> None:
    def mutate(raw: Raw) -> None:
        _regression(raw, upper_bound=2.0)
        raw["evaluation"].update(metrics=["AUC"], gate_metric="AUC", lower_bound=0.6)
        del raw["evaluation"]["upper_bound"]

    expect_config_error(
        write_config(tmp_path, mutate),
        "evaluation.gate_metric 'AUC' reads the label as classes",
        "features.task is regression",
    )


def test_a_regression_with_classes_is_refused(tmp_path: Path) -> None:
    def mutate(raw: Raw) -> None:
        _regression(raw, upper_bound=2.0)
        raw["features"]["num_classes"] = 2

    expect_config_error(
        write_config(tmp_path, mutate), "num_classes is 2, but a regression predicts one number"
    )


# --- eval_config -------------------------------------------------------------------------


def test_lower_is_better_ceiling_and_tolerance_above_the_baseline(tmp_path: Path) -> None:
    threshold = _gate_threshold(_load(tmp_path, True, upper_bound=2.5, max_regression=0.1))
    assert threshold.value_threshold.upper_bound.value == pytest.approx(2.5)
    assert not threshold.value_threshold.HasField("lower_bound")
    change = threshold.change_threshold
    assert change.direction == tfma.MetricDirection.LOWER_IS_BETTER
    # At most 0.1 above the baseline, and exactly 0.1 passes (the epsilon).
    assert change.absolute.value == pytest.approx(0.1, abs=1e-8) and change.absolute.value > 0.1
    assert not change.HasField("relative")


@pytest.mark.parametrize(
    ("regression", "gain", "direction", "absolute", "relative"),
    [
        (False, {"absolute": 0.01}, tfma.MetricDirection.HIGHER_IS_BETTER, 0.01, None),
        (False, {"relative": 0.02}, tfma.MetricDirection.HIGHER_IS_BETTER, None, 0.02),
        (True, {"absolute": 0.01}, tfma.MetricDirection.LOWER_IS_BETTER, -0.01, None),
        (True, {"relative": 0.02}, tfma.MetricDirection.LOWER_IS_BETTER, None, -0.02),
        (
            True,
            {"absolute": 0.5, "relative": 0.02},
            tfma.MetricDirection.LOWER_IS_BETTER,
            -0.5,
            -0.02,
        ),
    ],
)
def test_min_improvement_is_a_change_threshold_on_the_better_side(
    tmp_path: Path,
    regression: bool,
    gain: dict[str, float],
    direction: int,
    absolute: float | None,
    relative: float | None,
) -> None:
    bound = {"upper_bound": 2.5} if regression else {}
    threshold = _gate_threshold(_load(tmp_path, regression, min_improvement=gain, **bound))
    change = threshold.change_threshold
    assert change.direction == direction
    for field, expected in (("absolute", absolute), ("relative", relative)):
        if expected is None:
            assert not change.HasField(field)
        else:
            value = getattr(change, field).value
            assert value == pytest.approx(expected, abs=1e-8)
            # An improvement of exactly the demanded gain passes (the epsilon).
            assert abs(value) < abs(expected)


def test_slice_thresholds_follow_the_gate_metrics_direction(tmp_path: Path) -> None:
    entries = [
        {"slice": {"device": None}, "upper_bound": 3.0, "min_improvement": {"absolute": 0.05}},
        {"slice": {"region": "eu"}, "max_regression": 0.2},
    ]
    config = _load(tmp_path, True, upper_bound=2.5, slice_thresholds=entries)
    device, region = _gate_threshold(config, 1), _gate_threshold(config, 2)
    assert device.value_threshold.upper_bound.value == pytest.approx(3.0)
    assert device.change_threshold.direction == tfma.MetricDirection.LOWER_IS_BETTER
    assert device.change_threshold.absolute.value == pytest.approx(-0.05, abs=1e-8)
    assert not region.HasField("value_threshold")
    assert region.change_threshold.direction == tfma.MetricDirection.LOWER_IS_BETTER
    assert region.change_threshold.absolute.value == pytest.approx(0.2, abs=1e-8)


def test_without_a_baseline_tfx_keeps_the_bound_and_drops_the_demanded_gain(
    tmp_path: Path,
) -> None:
    # What TFX's Evaluator does to the config on the first model (rubber stamp).
    config = _load(tmp_path, True, upper_bound=2.5, min_improvement={"relative": 0.01})
    updated = tfma.utils.update_eval_config_with_defaults(
        topology.eval_config(config), has_baseline=False, rubber_stamp=True
    )
    thresholds = tfma.metrics.metric_thresholds_from_metrics_specs(
        updated.metrics_specs, eval_config=updated
    )
    assert {(key.name, key.is_diff) for key in thresholds} == {("mean_squared_error", False)}
    ((_, value_threshold),) = thresholds[next(iter(thresholds))]
    assert value_threshold.upper_bound.value == pytest.approx(2.5)


def test_the_regression_eval_config_computes_mse_and_mae(tmp_path: Path) -> None:
    config = _load(tmp_path, True, upper_bound=2.5)
    eval_config = topology.eval_config(config)
    assert eval_config.model_specs[0].label_key == "rating"
    keys = tfma.metrics.metric_thresholds_from_metrics_specs(
        eval_config.metrics_specs, eval_config=eval_config
    )
    assert {key.name for key in keys} == {"mean_squared_error"}
    names = [m.class_name for m in eval_config.metrics_specs[0].metrics]
    assert names == REGRESSION_METRICS_LIST


# --- summary and report --------------------------------------------------------------------


def _gate(**overrides: Any) -> ModelGate:
    fields: dict[str, Any] = dict(
        metric="AUC",
        metric_key="auc",
        value=0.80,
        lower_bound=0.65,
        value_passed=True,
        baseline_value=0.80,
        change=0.0,
        allowed_change=0.01 - 1e-10,
        change_passed=False,
        blessed=False,
    )
    fields.update(overrides)
    return ModelGate(**fields)


def test_a_demanded_gain_is_said_in_words() -> None:
    text = format_gate(_gate(), pushed=False)
    assert text == (
        "Model gate on AUC (overall slice, eval split of the newest span): candidate 0.8000 >= "
        "lower bound 0.6500 -> PASS; baseline 0.8000, change +0.0000 < required +0.0100 "
        "(must improve by >= 0.0100 over the baseline) -> FAIL. "
        "Not blessed, not pushed; the served model is unchanged."
    )


def test_a_relative_gain_on_a_lower_is_better_metric() -> None:
    gate = _gate(
        metric="MeanSquaredError",
        metric_key="mean_squared_error",
        value=2.0,
        lower_bound=None,
        upper_bound=2.5,
        baseline_value=2.01,
        change=-0.01,
        allowed_change=None,
        allowed_relative=-0.01 + 1e-10,
        higher_is_better=False,
    )
    text = format_gate(gate, pushed=False)
    assert text.startswith(
        "Model gate on MeanSquaredError (lower is better; overall slice, eval split of the "
        "newest span): candidate 2.0000 <= upper bound 2.5000 -> PASS; "
    )
    assert (
        "baseline 2.0100, change -0.0100 = -0.50% of the baseline > required -1.00% "
        "(must improve by >= 1.00% over the baseline) -> FAIL." in text
    )


def test_a_tolerance_is_not_called_a_gain() -> None:
    lower = _gate(allowed_change=0.1 + 1e-10, higher_is_better=False, change=0.05)
    assert improvement_rule(lower) is None
    assert improvement_rule(_gate(allowed_change=-0.01 - 1e-10)) is None
    assert "change +0.0500 <= allowed +0.1000 -> FAIL" in format_gate(lower, pushed=False)


def test_a_slice_demanding_a_gain_says_so() -> None:
    check = SliceCheck(
        slice="device=mobile",
        spec="device=*",
        value=0.8,
        baseline_value=0.8,
        change=0.0,
        allowed_change=0.05 - 1e-10,
        change_passed=False,
    )
    lines = format_gate(_gate(slices=(check,)), pushed=False).splitlines()
    assert lines[2] == (
        "    device=mobile (threshold for device=*): candidate 0.8000 (no bound); baseline "
        "0.8000, change +0.0000 < required +0.0500 (must improve by >= 0.0500 over the "
        "baseline) -> FAIL"
    )


def test_the_report_says_lower_is_better_and_the_demanded_gain() -> None:
    gate = _gate(
        metric="MeanSquaredError",
        metric_key="mean_squared_error",
        value=2.0,
        lower_bound=None,
        upper_bound=2.5,
        baseline_value=2.0,
        allowed_change=-0.01 + 1e-10,
        higher_is_better=False,
        slices=(
            SliceCheck(
                slice="device=mobile",
                spec="device=*",
                value=2.2,
                upper_bound=3.0,
                value_passed=True,
                higher_is_better=False,
            ),
        ),
    )
    html = render_gate(gate, blessed=False)
    row = html[html.index('<tr id="model-gate">') :]
    row = row[: row.index("</tr>")]
    assert "MeanSquaredError (mean_squared_error), lower is better" in row
    assert "<td>&le; 2.5000</td>" in row
    assert (
        '&le; -0.0100 <span class="rule">(must improve by ≥ 0.0100 over the baseline)</span>' in row
    )
    sliced = html[html.index('<tr id="slice-gate-0">') :]
    assert "<td>&le; 3.0000</td>" in sliced
    assert "Slice thresholds on MeanSquaredError (lower is better):" in html


def test_the_report_shows_a_relative_bound_as_a_percentage() -> None:
    html = render_gate(_gate(allowed_change=None, allowed_relative=0.01 - 1e-10), blessed=False)
    assert "&ge; +1.00% of the baseline" in html
    assert "(must improve by ≥ 1.00% over the baseline)" in html
