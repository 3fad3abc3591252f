"""Per-slice blessing thresholds: the config keys, the TFMA eval config built from
them, and how the summary renders per-slice verdicts (no model is evaluated here;
see test_slice_thresholds_e2e.py for real TFMA runs)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import tensorflow_model_analysis as tfma
import yaml

from pipeline import pipeline as topology
from pipeline.config import DEFAULT_CONFIG, ConfigError, PipelineConfig, SliceThreshold, load_config
from pipeline.ops.model_gate import ModelGate, SliceCheck
from pipeline.views.summary import format_gate, format_slice_check

REPO = Path(__file__).resolve().parents[2]


def _config(tmp_path: Path, slice_thresholds: Any) -> Path:
    """clicks.yaml with absolute inputs and ``evaluation.slice_thresholds`` replaced."""
    raw = yaml.safe_load(DEFAULT_CONFIG.read_text(encoding="utf-8"))
    raw["schema_file"] = str(REPO / "schemas" / "clicks" / "schema.pbtxt")
    raw["data"]["input_base"] = str(REPO / "data" / "clicks")
    raw["evaluation"]["slice_thresholds"] = slice_thresholds
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


def _load(tmp_path: Path, slice_thresholds: Any) -> PipelineConfig:
    return load_config(_config(tmp_path, slice_thresholds))


def _error(tmp_path: Path, slice_thresholds: Any, *fragments: str) -> None:
    path = _config(tmp_path, slice_thresholds)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert str(path) in message, message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"


# --- config -----------------------------------------------------------------------------


def test_entries_parse_into_columns_values_and_bounds(tmp_path: Path) -> None:
    config = _load(
        tmp_path,
        [
            {"slice": {"device": None}, "lower_bound": 0.6, "max_regression": 0.02},
            {"slice": {"device": "mobile"}, "lower_bound": 0.62},
            {"slice": {"region": None, "device": "desktop"}, "max_regression": 0},
            {"slice": {"hour": 3}, "lower_bound": 1},
        ],
    )
    assert config.evaluation.slice_thresholds == (
        SliceThreshold(columns=("device",), lower_bound=0.6, max_regression=0.02),
        SliceThreshold(values=(("device", "mobile"),), lower_bound=0.62),
        SliceThreshold(columns=("region",), values=(("device", "desktop"),), max_regression=0.0),
        SliceThreshold(values=(("hour", "3"),), lower_bound=1.0),
    )
    names = [t.name for t in config.evaluation.slice_thresholds]
    assert names == ["device=*", "device=mobile", "region=*, device=desktop", "hour=3"]


def test_no_slice_thresholds_by_default(tmp_path: Path) -> None:
    assert _load(tmp_path, None).evaluation.slice_thresholds == ()


@pytest.mark.parametrize(
    ("entries", "fragments"),
    [
        ({"slice": {"device": None}}, ["evaluation.slice_thresholds must be a list"]),
        (["device"], ["evaluation.slice_thresholds[0] must be a mapping"]),
        ([{"slice": {"browser": None}, "lower_bound": 0.6}], ["[0].slice", "'browser'"]),
        ([{"slice": {}, "lower_bound": 0.6}], ["[0].slice must be a non-empty mapping"]),
        ([{"slice": ["device"], "lower_bound": 0.6}], ["[0].slice must be a non-empty mapping"]),
        ([{"lower_bound": 0.6}], ["[0].slice must be a non-empty mapping"]),
        ([{"slice": {"device": None}}], ["[0] (slice device=*) needs lower_bound"]),
        ([{"slice": {"device": None}, "floor": 0.6}], ["[0] keys ['floor']"]),
        (
            [{"slice": {"device": None}, "max_regression": -0.01}],
            ["[0].max_regression must be >= 0", "-0.01"],
        ),
        ([{"slice": {"device": None}, "lower_bound": "high"}], ["[0].lower_bound", "'high'"]),
        ([{"slice": {"device": None}, "lower_bound": True}], ["[0].lower_bound", "True"]),
        ([{"slice": {"device": None}, "lower_bound": float("nan")}], ["[0].lower_bound", "nan"]),
        ([{"slice": {"device": True}, "lower_bound": 0.6}], ["[0].slice.device", "True"]),
        ([{"slice": {"price": 9.99}, "lower_bound": 0.6}], ["[0].slice.price", "9.99"]),
        (
            [
                {"slice": {"device": "mobile"}, "lower_bound": 0.6},
                {"slice": {"region": None}, "lower_bound": 0.6},
                {"slice": {"device": "mobile"}, "max_regression": 0.01},
            ],
            ["[2] repeats the slice device=mobile"],
        ),
    ],
)
def test_bad_entries_name_the_entry_and_key(
    tmp_path: Path, entries: Any, fragments: list[str]
) -> None:
    _error(tmp_path, entries, "evaluation.slice_thresholds", *fragments)


# --- eval_config ------------------------------------------------------------------------


@pytest.fixture()
def sliced(tmp_path: Path) -> PipelineConfig:
    return _load(
        tmp_path,
        [
            {"slice": {"device": None}, "lower_bound": 0.6, "max_regression": 0.02},
            {"slice": {"device": "mobile"}, "lower_bound": 0.62},
            {"slice": {"item_category": None}, "max_regression": 0.05},
        ],
    )


def test_one_per_slice_threshold_per_entry_on_the_gate_metric_only(sliced: PipelineConfig) -> None:
    (spec,) = topology.eval_config(sliced).metrics_specs
    gated = [m for m in spec.metrics if m.per_slice_thresholds]
    assert [m.class_name for m in gated] == [sliced.evaluation.gate_metric]
    overall, every_device, mobile, category = gated[0].per_slice_thresholds
    # The overall gate is unchanged and first.
    assert list(overall.slicing_specs) == [tfma.SlicingSpec()]
    assert overall.threshold.value_threshold.lower_bound.value == pytest.approx(0.65)

    assert list(every_device.slicing_specs) == [tfma.SlicingSpec(feature_keys=["device"])]
    assert every_device.threshold.value_threshold.lower_bound.value == pytest.approx(0.6)
    change = every_device.threshold.change_threshold
    assert change.direction == tfma.MetricDirection.HIGHER_IS_BETTER
    assert change.absolute.value == pytest.approx(-0.02, abs=1e-8)
    assert change.absolute.value < -0.02  # the same epsilon as the overall gate
    assert not change.HasField("relative")

    assert list(mobile.slicing_specs) == [tfma.SlicingSpec(feature_values={"device": "mobile"})]
    assert mobile.threshold.value_threshold.lower_bound.value == pytest.approx(0.62)
    assert not mobile.threshold.HasField("change_threshold")

    assert list(category.slicing_specs) == [tfma.SlicingSpec(feature_keys=["item_category"])]
    assert not category.threshold.HasField("value_threshold")
    assert category.threshold.change_threshold.absolute.value == pytest.approx(-0.05, abs=1e-8)


def test_threshold_slices_are_computed_once_each(sliced: PipelineConfig) -> None:
    # TFMA computes only the listed slices; `device` is already a reporting slice.
    specs = list(topology.eval_config(sliced).slicing_specs)
    assert specs == [
        tfma.SlicingSpec(),
        tfma.SlicingSpec(feature_keys=["device"]),
        tfma.SlicingSpec(feature_keys=["region"]),
        tfma.SlicingSpec(feature_values={"device": "mobile"}),
        tfma.SlicingSpec(feature_keys=["item_category"]),
    ]


def test_tfma_reads_the_slice_thresholds_back(sliced: PipelineConfig) -> None:
    # TFMA's own reading of the config: value and change thresholds per slice spec.
    eval_config = topology.eval_config(sliced)
    thresholds = tfma.metrics.metric_thresholds_from_metrics_specs(
        eval_config.metrics_specs, eval_config=eval_config
    )
    by_key = {
        (key.name, key.is_diff): sorted(
            str(tfma.slicer.SingleSliceSpec(spec=spec)) for spec, _ in pairs
        )
        for key, pairs in thresholds.items()
    }
    assert set(by_key) == {("auc", False), ("auc", True)}
    assert len(by_key[("auc", False)]) == 3  # overall, device=*, device=mobile
    assert len(by_key[("auc", True)]) == 3  # overall, device=*, item_category=*


def test_without_a_baseline_tfx_keeps_the_floors_and_drops_the_tolerances(
    sliced: PipelineConfig,
) -> None:
    # What TFX's Evaluator does to the config before TFMA runs, on the first model.
    updated = tfma.utils.update_eval_config_with_defaults(
        topology.eval_config(sliced), has_baseline=False, rubber_stamp=True
    )
    thresholds = tfma.metrics.metric_thresholds_from_metrics_specs(
        updated.metrics_specs, eval_config=updated
    )
    assert {(key.name, key.is_diff) for key in thresholds} == {("auc", False)}
    assert len(thresholds[next(iter(thresholds))]) == 3


def test_the_default_config_gates_every_device(tmp_path: Path) -> None:
    config = load_config(DEFAULT_CONFIG)
    (entry,) = config.evaluation.slice_thresholds
    assert entry.columns == ("device",) and entry.values == ()
    assert entry.lower_bound is not None and entry.max_regression is None


# --- summary formatting -----------------------------------------------------------------


def _gate(**overrides: Any) -> ModelGate:
    fields: dict[str, Any] = dict(
        metric="AUC",
        metric_key="auc",
        value=0.81,
        lower_bound=0.65,
        value_passed=True,
        baseline_value=0.80,
        change=0.01,
        allowed_change=-0.0100000001,
        change_passed=True,
        blessed=False,
    )
    fields.update(overrides)
    return ModelGate(**fields)


def test_a_failed_slice_is_named_with_its_value_bound_and_change() -> None:
    checks = (
        SliceCheck(
            slice="device=desktop",
            spec="device=*",
            value=0.7642,
            lower_bound=0.6,
            value_passed=True,
            baseline_value=0.7564,
            change=0.0078,
            allowed_change=-0.0200000001,
            change_passed=True,
            example_count=185,
        ),
        SliceCheck(
            slice="device=tablet",
            spec="device=*",
            value=0.5912,
            lower_bound=0.6,
            value_passed=False,
            baseline_value=0.6712,
            change=-0.08,
            allowed_change=-0.0200000001,
            change_passed=False,
            example_count=47,
        ),
        SliceCheck(
            slice="device=tablet",
            spec="device=tablet",
            value=0.5912,
            lower_bound=0.55,
            value_passed=True,
            baseline_value=0.6712,
            change=-0.08,
            example_count=47,
        ),
    )
    lines = format_gate(_gate(slices=checks), pushed=False).splitlines()
    assert lines[0].endswith("Not blessed, not pushed; the served model is unchanged.")
    assert lines[1:] == [
        "  Slice thresholds on AUC (1 of 3 FAIL):",
        "    device=desktop (185 examples; threshold for device=*): candidate 0.7642 >= "
        "lower bound 0.6000 -> PASS; baseline 0.7564, change +0.0078 >= allowed -0.0200 -> PASS",
        "    device=tablet (47 examples; threshold for device=*): candidate 0.5912 < "
        "lower bound 0.6000 -> FAIL; baseline 0.6712, change -0.0800 < allowed -0.0200 -> FAIL",
        "    device=tablet (47 examples): candidate 0.5912 >= lower bound 0.5500 -> PASS; "
        "baseline 0.6712, change -0.0800 (no change threshold)",
    ]
    assert [check.passed for check in checks] == [True, False, True]


def test_first_model_slice_lines_stop_after_the_value_check() -> None:
    check = SliceCheck(
        slice="device=mobile", spec="device=*", value=0.84, lower_bound=0.6, value_passed=True
    )
    gate = _gate(
        baseline_value=None,
        change=None,
        allowed_change=None,
        change_passed=None,
        blessed=True,
        slices=(check,),
    )
    assert format_gate(gate, pushed=True).splitlines()[1:] == [
        "  Slice thresholds on AUC (all PASS):",
        "    device=mobile (threshold for device=*): candidate 0.8400 >= lower bound 0.6000 "
        "-> PASS",
    ]


def test_a_slice_tfma_did_not_compute_fails_visibly() -> None:
    check = SliceCheck(
        slice="device=tablet", spec="device=*", value=None, lower_bound=0.6, value_passed=False
    )
    assert format_slice_check(check, "auc") == (
        "device=tablet (threshold for device=*): candidate: TFMA recorded no auc -> FAIL"
    )
