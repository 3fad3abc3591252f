"""Per-slice thresholds decide the blessing, with real TFMA.

The session's pipeline runs (``clicks_runs``) use clicks.yaml, whose per-device floor
every normal model passes. The other cases rerun TFX's own Evaluator executor on the
inputs of the fixture's last Evaluator (the newest span's examples, the new model as
candidate, the first model as baseline) with eval configs that ``eval_config()``
builds from configs with other slice thresholds, and read the blessing artifact the
Pusher would read and the summary's explanation from TFMA's output. Thresholds are
set relative to the per-device values the fixture's own evaluation recorded, so the
test does not depend on what exactly the model learned.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
import yaml
from ml_metadata.proto import metadata_store_pb2

from pipeline import nodes
from pipeline import pipeline as topology
from pipeline.config import DEFAULT_CONFIG, PipelineConfig, load_config
from pipeline.mlmd import connection as metadata
from pipeline.ops.model_gate import ModelGate, model_gate
from pipeline.ops.summary import RunSummary
from pipeline.views.report import render_gate
from pipeline.views.summary import format_gate
from tests.support.cli import REPO
from tests.support.data import Runs

DEVICES = ("desktop", "mobile", "tablet")


def _evaluator_artifacts(config: PipelineConfig, summary: RunSummary) -> dict[str, list[Any]]:
    """The run's Evaluator inputs and outputs as TFX artifacts, keyed like the executor's."""
    from tfx.types import artifact_utils

    store = metadata.open_store(config, {})
    execution_id = summary.node(nodes.EVALUATOR).execution_id
    result: dict[str, list[Any]] = {}
    for event in store.get_events_by_execution_ids([execution_id]):
        (artifact,) = store.get_artifacts_by_id([event.artifact_id])
        (kind,) = store.get_artifact_types_by_id([artifact.type_id])
        side = "in" if event.type == metadata_store_pb2.Event.INPUT else "out"
        key = f"{side}:{event.path.steps[0].key}"
        result.setdefault(key, []).append(artifact_utils.deserialize_artifact(kind, artifact))
    return result


def _device_values(evaluation_uri: str) -> dict[str, dict[tuple[str, str, bool], float]]:
    """Device -> (metric, model name, is_diff) -> value, as TFMA wrote them."""
    import tensorflow_model_analysis as tfma

    values = {}
    for metrics in tfma.load_metrics(evaluation_uri):
        key = tfma.slicer.deserialize_slice_key(metrics.slice_key)
        if len(key) == 1 and key[0][0] == "device":
            values[key[0][1]] = {
                (kv.key.name, kv.key.model_name, kv.key.is_diff): kv.value.double_value.value
                for kv in metrics.metric_keys_and_values
                if kv.value.HasField("double_value")
            }
    return values


@pytest.fixture(scope="module")
def last_evaluation(clicks_runs: Runs) -> dict[str, list[Any]]:
    """The new-span run's Evaluator artifacts (it compared the new model with the first)."""
    artifacts = _evaluator_artifacts(clicks_runs.config, clicks_runs.new_span)
    assert {"in:examples", "in:model", "in:baseline_model", "out:evaluation"} <= set(artifacts)
    return artifacts


@pytest.fixture(scope="module")
def devices(last_evaluation: dict[str, list[Any]]) -> dict[str, dict[tuple[str, str, bool], float]]:
    """Per-device AUCs of the fixture's last evaluation (candidate, baseline, change)."""
    values = _device_values(last_evaluation["out:evaluation"][0].uri)
    assert sorted(values) == list(DEVICES)
    return values


def _config(
    tmp_path: Path, clicks_runs: Runs, slice_thresholds: list[dict[str, Any]]
) -> PipelineConfig:
    """The fixture's config with these slice thresholds, through the YAML loader."""
    raw = yaml.safe_load(DEFAULT_CONFIG.read_text(encoding="utf-8"))
    raw["schema_file"] = str(REPO / "schemas" / "clicks" / "schema.pbtxt")
    raw["data"]["input_base"] = str(REPO / "data" / "clicks")
    raw["evaluation"]["slice_thresholds"] = slice_thresholds
    path = tmp_path / "sliced.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return dataclasses.replace(clicks_runs.config, evaluation=load_config(path).evaluation)


def _evaluate(
    config: PipelineConfig,
    artifacts: dict[str, list[Any]],
    out: Path,
    baseline: bool = True,
    min_slice_size: int | None = None,
) -> tuple[bool, ModelGate]:
    """Runs TFX's Evaluator executor with ``eval_config(config)``.

    Returns:
        The blessing artifact's ``blessed`` and the summary's gate read from TFMA.
    """
    from tfx.components.evaluator import executor
    from tfx.dsl.components.base import base_beam_executor
    from tfx.types import standard_artifacts
    from tfx.utils import proto_utils

    inputs = {"examples": artifacts["in:examples"], "model": artifacts["in:model"]}
    if baseline:
        inputs["baseline_model"] = artifacts["in:baseline_model"]
    evaluation = standard_artifacts.ModelEvaluation()
    evaluation.uri = str(out / "evaluation")
    blessing = standard_artifacts.ModelBlessing()
    blessing.uri = str(out / "blessing")
    for artifact in (evaluation, blessing):
        Path(artifact.uri).mkdir(parents=True)
    eval_config = topology.eval_config(config)
    if min_slice_size is not None:
        eval_config.options.min_slice_size.value = min_slice_size
    context = base_beam_executor.BaseBeamExecutor.Context(
        beam_pipeline_args=list(config.beam_args), tmp_dir=str(out / "tmp")
    )
    executor.Executor(context).Do(
        inputs,
        {"evaluation": [evaluation], "blessing": [blessing]},
        {"eval_config": proto_utils.proto_to_json(eval_config), "example_splits": "null"},
    )
    blessed = blessing.get_int_custom_property("blessed")
    # The Pusher reads the custom property; TFX also leaves a marker file.
    marker = "BLESSED" if blessed == 1 else "NOT_BLESSED"
    assert (Path(blessing.uri) / marker).exists()
    gate = model_gate(evaluation.uri, blessed == 1)
    assert gate is not None
    return blessed == 1, gate


def test_normal_models_pass_the_configured_device_floor(clicks_runs: Runs) -> None:
    """clicks.yaml's floor on every device, in the fixture's real pipeline runs."""
    (entry,) = clicks_runs.config.evaluation.slice_thresholds
    assert entry.columns == ("device",) and entry.lower_bound is not None
    for run, candidate in ((clicks_runs.first, ""), (clicks_runs.new_span, "candidate")):
        gate = run.model_gate
        assert gate is not None and gate.blessed and run.pushed
        values = _device_values(
            _evaluator_artifacts(clicks_runs.config, run)["out:evaluation"][0].uri
        )
        assert [check.slice for check in gate.slices] == [f"device={d}" for d in DEVICES]
        for device, check in zip(DEVICES, gate.slices, strict=True):
            assert check.spec == "device=*"
            assert check.value == pytest.approx(values[device][("auc", candidate, False)])
            assert check.lower_bound == pytest.approx(entry.lower_bound)
            assert check.value_passed is True and check.passed
            assert check.example_count == values[device][("example_count", candidate, False)]
            # Without max_regression in the entry there is no change check per slice.
            assert check.allowed_change is None and check.change_passed is None
        assert "  Slice thresholds on AUC (all PASS):" in format_gate(gate, pushed=True)
        assert not gate.failures
    # In the second run the slice lines also show the baseline's value per device.
    assert all(check.baseline_value is not None for check in clicks_runs.new_span.model_gate.slices)


def test_a_model_under_one_devices_floor_is_not_blessed(
    tmp_path: Path, clicks_runs: Runs, last_evaluation: dict[str, list[Any]], devices: dict
) -> None:
    auc = {device: values[("auc", "candidate", False)] for device, values in devices.items()}
    worst = min(auc, key=auc.get)
    floor = round(auc[worst] + 0.01, 4)  # just above what the model scores on `worst`
    config = _config(
        tmp_path,
        clicks_runs,
        [
            {"slice": {"device": None}, "lower_bound": round(min(auc.values()) - 0.1, 4)},
            {"slice": {"device": worst}, "lower_bound": floor},
        ],
    )
    blessed, gate = _evaluate(config, last_evaluation, tmp_path / "run")

    assert not blessed
    # The overall gate passes, as it did in the fixture's run that blessed this model.
    assert gate.value_passed is True and gate.change_passed is True
    failed = [check for check in gate.slices if not check.passed]
    assert [(c.slice, c.spec) for c in failed] == [(f"device={worst}", f"device={worst}")]
    (check,) = failed
    assert check.value == pytest.approx(auc[worst])
    assert check.lower_bound == pytest.approx(floor) and check.value_passed is False
    assert len(gate.slices) == len(DEVICES) + 1  # every device, and `worst` once more
    text = format_gate(gate, pushed=False)
    assert "  Slice thresholds on AUC (1 of 4 FAIL):" in text
    assert (
        f"    device={worst} ({check.example_count:.0f} examples): candidate "
        f"{auc[worst]:.4f} < lower bound {floor:.4f} -> FAIL; baseline "
    ) in text
    assert f"device={worst} slice: auc (candidate) = {auc[worst]:.4f} violates " in text
    assert "Not blessed, not pushed" in text.splitlines()[0]
    # The HTML run report's gate section has the same verdict in its slice table.
    table = render_gate(gate, blessed)
    row = table[table.index(f"<td>device={worst}</td><td>device={worst}</td>") :]
    assert row[: row.index("</tr>")].count('class="fail">FAIL') == 1


def test_per_device_tolerance_against_the_baseline(
    tmp_path: Path, clicks_runs: Runs, last_evaluation: dict[str, list[Any]], devices: dict
) -> None:
    change = {device: values[("auc", "candidate", True)] for device, values in devices.items()}
    worst = min(change, key=change.get)
    if change[worst] >= 0:
        pytest.fail(f"the new model is not worse than the first on any device: {change}")
    # Between the worst device's drop and the next one's: only `worst` is out of it.
    others = [max(-c, 0.0) for d, c in change.items() if d != worst]
    tight = round((-change[worst] + max(others)) / 2, 5)
    loose = round(-change[worst] + 0.005, 5)

    config = _config(tmp_path, clicks_runs, [{"slice": {"device": None}, "max_regression": tight}])
    blessed, gate = _evaluate(config, last_evaluation, tmp_path / "tight")
    assert not blessed
    assert gate.value_passed is True and gate.change_passed is True  # overall is fine
    failed = [check for check in gate.slices if not check.passed]
    assert [check.slice for check in failed] == [f"device={worst}"]
    (check,) = failed
    assert check.change == pytest.approx(change[worst])
    assert check.baseline_value == pytest.approx(devices[worst][("auc", "baseline", False)])
    assert check.allowed_change == pytest.approx(-tight) and check.change_passed is False
    assert check.value_passed is None  # no floor in this entry
    assert f"change {change[worst]:+.4f} < allowed {-tight:+.4f} -> FAIL" in format_gate(
        gate, pushed=False
    )

    # The same model with a tolerance that covers the drop is blessed.
    config = _config(tmp_path, clicks_runs, [{"slice": {"device": None}, "max_regression": loose}])
    blessed, gate = _evaluate(config, last_evaluation, tmp_path / "loose")
    assert blessed
    assert [check.change_passed for check in gate.slices] == [True] * len(DEVICES)
    assert "  Slice thresholds on AUC (all PASS):" in format_gate(gate, pushed=True)


def test_a_threshold_on_a_slice_with_no_examples_fails_the_gate(
    tmp_path: Path, clicks_runs: Runs, last_evaluation: dict[str, list[Any]]
) -> None:
    # TFMA counts a threshold whose slice it never saw as a missing slice.
    config = _config(
        tmp_path, clicks_runs, [{"slice": {"device": "smartwatch"}, "lower_bound": 0.5}]
    )
    blessed, gate = _evaluate(config, last_evaluation, tmp_path / "run", baseline=False)
    assert not blessed
    assert gate.value_passed is True and gate.slices == ()
    assert gate.failures == (
        'no slice matched the slicing spec feature_values { key: "device" value: "smartwatch" } '
        "of a threshold",
    )


def test_tfma_min_slice_size_would_veto_on_every_small_slice(
    tmp_path: Path, clicks_runs: Runs, last_evaluation: dict[str, list[Any]], devices: dict
) -> None:
    """Why eval_config() leaves TFMA's min_slice_size alone (see docs/configuration.md)."""
    counts = {d: values[("example_count", "candidate", False)] for d, values in devices.items()}
    size = int(min(counts.values())) + 1  # hides the smallest device (and small regions)
    config = _config(tmp_path, clicks_runs, [{"slice": {"device": None}, "lower_bound": 0.5}])
    blessed, gate = _evaluate(config, last_evaluation, tmp_path / "run", False, size)
    assert not blessed
    smallest = min(counts, key=counts.get)
    (hidden,) = [check for check in gate.slices if check.value is None]
    assert hidden.slice == f"device={smallest}" and hidden.value_passed is False
    # TFMA fails every threshold on every slice it hid, even reporting-only slices
    # and the overall floor: "Metric not found".
    assert any(
        f.startswith(
            f"device={smallest} slice: auc (candidate) violates value_threshold "
            "{ lower_bound { value: 0.65 } }: Metric not found"
        )
        for f in gate.failures
    ), gate.failures
