"""A model worse than the baseline is not blessed, not pushed, and the run says why.

One sequence of real CLI runs (in-process) on one output root: good days (first model, blessed),
a crippled model on the same data (worse than the baseline), then a day whose labels
are shuffled. The gate line's numbers are checked against what TFMA itself wrote for
each run's evaluation, so a wrong or missing explanation fails the test.
"""

from __future__ import annotations

import datetime
import os
import re
from pathlib import Path

import ml_metadata as mlmd
import pytest
from ml_metadata.proto import metadata_store_pb2

from pipeline import nodes
from pipeline.config import PipelineConfig, load_config, with_env_overrides
from pipeline.devtools import clickgen
from pipeline.mlmd import connection as metadata
from tests.support.cli import REPO, CliResult, run_cli
from tests.support.data import served_files

DAY1 = datetime.date(2026, 11, 1)
ROWS = 1500

SCOPE = r"Model gate on AUC \(overall slice, eval split of the newest span\): "
NUMBER = r"[-+]?\d+\.\d{4}"
VALUE_CHECK = (
    rf"candidate (?P<value>{NUMBER}) (?P<value_op>>=|<) lower bound (?P<lower>{NUMBER}) "
    r"-> (?P<value_check>PASS|FAIL)"
)
FIRST_LINE = re.compile(
    rf"^{SCOPE}{VALUE_CHECK}; no baseline \(first model\), no comparison\. (?P<verdict>.+)$", re.M
)
COMPARED_LINE = re.compile(
    rf"^{SCOPE}{VALUE_CHECK}; baseline (?P<baseline>{NUMBER}), change (?P<change>{NUMBER}) "
    rf"(?P<change_op>>=|<) allowed (?P<allowed>{NUMBER}) -> (?P<change_check>PASS|FAIL)\. "
    r"(?P<verdict>.+)$",
    re.M,
)
NOT_BLESSED = "Not blessed, not pushed; the served model is unchanged."


def _write_config(directory: Path, name: str, train_steps: int) -> Path:
    """A copy of clicks.yaml with absolute paths, a 2-day window and ``train_steps``."""
    text = (REPO / "pipeline" / "configs" / "clicks.yaml").read_text()
    replacements = {
        "schema_file: schemas/": f"schema_file: {REPO}/schemas/",
        "input_base: data/clicks": f"input_base: {REPO}/data/clicks",
        "root: outputs": f"root: {directory}/unused-outputs",
        "window_spans: 3": "window_spans: 2",
        "train_steps: 300": f"train_steps: {train_steps}",
    }
    for old, new in replacements.items():
        assert old in text, f"clicks.yaml no longer has {old!r}"
        text = text.replace(old, new)
    path = directory / f"{name}.yaml"
    path.write_text(text)
    return path


def _run(config: Path, data: Path, out: Path) -> CliResult:
    return run_cli(
        ["run", "--config", str(config), "--data-root", str(data), "--output-root", str(out)]
    )


def _last_run_outputs(
    store: mlmd.MetadataStore, node_id: str
) -> dict[str, metadata_store_pb2.Artifact]:
    """Output artifacts (by key) of ``node_id`` in the newest pipeline run."""
    run = max(store.get_contexts_by_type("pipeline_run"), key=lambda c: c.id)
    (execution,) = [
        e
        for e in store.get_executions_by_context(run.id)
        for c in store.get_contexts_by_execution(e.id)
        if c.type == "node" and c.name.split(".", 1)[1] == node_id
    ]
    events = [
        e
        for e in store.get_events_by_execution_ids([execution.id])
        if e.type == metadata_store_pb2.Event.OUTPUT
    ]
    artifacts = {a.id: a for a in store.get_artifacts_by_id([e.artifact_id for e in events])}
    return {e.path.steps[0].key: artifacts[e.artifact_id] for e in events}


def _tfma_overall(evaluation_uri: str) -> dict[tuple[str, str, bool], float]:
    """(metric name, model name, is_diff) -> value on the overall slice, from TFMA."""
    import tensorflow_model_analysis as tfma

    (overall,) = [m for m in tfma.load_metrics(evaluation_uri) if not m.slice_key.single_slice_keys]
    return {
        (kv.key.name, kv.key.model_name, kv.key.is_diff): kv.value.double_value.value
        for kv in overall.metric_keys_and_values
        if kv.value.HasField("double_value")
    }


def _gate_line(pattern: re.Pattern[str], stdout: str) -> re.Match[str]:
    matches = list(pattern.finditer(stdout))
    assert len(matches) == 1, stdout[-4000:]
    return matches[0]


def _check_verdicts(line: re.Match[str]) -> None:
    """The printed comparison and PASS/FAIL agree with the printed numbers."""
    value_ok = float(line["value"]) >= float(line["lower"])
    assert line["value_op"] == (">=" if value_ok else "<")
    assert line["value_check"] == ("PASS" if value_ok else "FAIL")
    if "change" in line.groupdict():
        change_ok = float(line["change"]) >= float(line["allowed"])
        assert line["change_op"] == (">=" if change_ok else "<")
        assert line["change_check"] == ("PASS" if change_ok else "FAIL")


def _assert_matches_tfma(
    line: re.Match[str], store: mlmd.MetadataStore, config: PipelineConfig
) -> dict[tuple[str, str, bool], float]:
    """The gate line's numbers are TFMA's, for this run's evaluation artifact."""
    outputs = _last_run_outputs(store, nodes.EVALUATOR)
    values = _tfma_overall(outputs["evaluation"].uri)
    assert line["lower"] == f"{config.evaluation.lower_bound:.4f}"
    if "baseline" not in line.groupdict():
        assert line["value"] == f"{values[('auc', '', False)]:.4f}", values
        return values
    # TFX's Evaluator names the two models "candidate" and "baseline"; TFMA writes
    # the candidate's change against the baseline as an is_diff key of the candidate.
    assert line["value"] == f"{values[('auc', 'candidate', False)]:.4f}", values
    assert line["baseline"] == f"{values[('auc', 'baseline', False)]:.4f}", values
    assert line["change"] == f"{values[('auc', 'candidate', True)]:+.4f}", values
    assert line["allowed"] == f"{-config.evaluation.max_regression:+.4f}"
    return values


def _not_blessed_and_not_pushed(store: mlmd.MetadataStore) -> None:
    blessing = _last_run_outputs(store, nodes.EVALUATOR)["blessing"]
    assert blessing.custom_properties["blessed"].int_value == 0
    pushed = _last_run_outputs(store, nodes.PUSHER)["pushed_model"]
    assert pushed.custom_properties["pushed"].int_value == 0


def test_worse_models_are_not_blessed_and_the_summary_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The command line alone decides where data and outputs are.
    for name in list(os.environ):
        if name.startswith(("PIPELINE_", "MLMD_")):
            monkeypatch.delenv(name)
    data, out = tmp_path / "data", tmp_path / "out"
    good = _write_config(tmp_path, "good", train_steps=150)
    crippled = _write_config(tmp_path, "crippled", train_steps=1)
    config = with_env_overrides(
        load_config(good), {"PIPELINE_DATA_ROOT": str(data), "PIPELINE_OUTPUT_ROOT": str(out)}
    )
    for offset in range(2):
        clickgen.write_day(data, DAY1 + datetime.timedelta(days=offset), rows=ROWS, seed=3)

    # a. Good days: the first model passes the floor, has no baseline, is pushed.
    first = _run(good, data, out)
    assert first.returncode == 0, first.stderr[-3000:]
    line = _gate_line(FIRST_LINE, first.stdout)
    _check_verdicts(line)
    assert line["value_check"] == "PASS"
    assert line["verdict"] == "Blessed and pushed."
    assert "TFMA validation failures" not in first.stdout
    first_values = _assert_matches_tfma(line, metadata.open_store(config, {}), config)
    served = served_files(out / "serving" / "clicks")
    assert served

    # b. A crippled model on the same data: Transform is cached, the Trainer reruns,
    # and the candidate is clearly worse than the served model on the same eval split.
    second = _run(crippled, data, out)
    assert second.returncode == 0, second.stderr[-3000:]  # not blessed is no crash
    assert re.search(r"^  Transform +cached ", second.stdout, re.M), second.stdout
    assert re.search(r"^  Trainer +ran ", second.stdout, re.M), second.stdout
    line = _gate_line(COMPARED_LINE, second.stdout)
    _check_verdicts(line)
    values = _assert_matches_tfma(line, metadata.open_store(config, {}), config)
    # The baseline is the first model, scored on the same eval split as in run a.
    assert values[("auc", "baseline", False)] == pytest.approx(first_values[("auc", "", False)])
    assert float(line["change"]) < -0.05
    assert line["change_check"] == "FAIL"
    assert line["verdict"] == NOT_BLESSED
    assert "  TFMA validation failures:" in second.stdout
    assert "overall slice: auc (candidate, change vs baseline) = " in second.stdout
    assert "Pushed: nothing new this run" in second.stdout
    _not_blessed_and_not_pushed(metadata.open_store(config, {}))
    assert served_files(out / "serving" / "clicks") == served, "the served model must not change"

    # c. A new day whose labels are shuffled: no model can rank it better than chance.
    clickgen.write_day(
        data, DAY1 + datetime.timedelta(days=2), rows=ROWS, seed=3, inject=["shuffled_labels"]
    )
    third = _run(good, data, out)
    assert third.returncode == 0, third.stderr[-3000:]
    line = _gate_line(COMPARED_LINE, third.stdout)
    _check_verdicts(line)
    _assert_matches_tfma(line, metadata.open_store(config, {}), config)
    assert line["value_check"] == "FAIL"
    assert line["verdict"] == NOT_BLESSED
    assert "overall slice: auc (candidate) = " in third.stdout
    assert "violates value_threshold { lower_bound { value: 0.65 } }" in third.stdout
    _not_blessed_and_not_pushed(metadata.open_store(config, {}))
    assert served_files(out / "serving" / "clicks") == served, "the served model must not change"
