"""Formatting of the run summary and its model gate (pure: no TFX run, no TFMA import)."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import ml_metadata as mlmd
import pytest
from ml_metadata.proto.metadata_store_pb2 import (
    Artifact,
    ArtifactType,
    Event,
    Execution,
    ExecutionType,
)

from pipeline.mlmd.queries import NODE_CONTEXT, PIPELINE_CONTEXT, RUN_CONTEXT
from pipeline.ops.model_gate import ModelGate
from pipeline.ops.summary import (
    NodeRun,
    RunSummary,
    TFLiteExport,
    ingested_spans,
    summarize_run,
    validated_spans,
)
from pipeline.views.summary import format_gate, format_summary, format_tflite
from tests.support.mlmd_store import PIPELINE, ensure_context, sqlite_store

SCOPE = "Model gate on AUC (overall slice, eval split of the newest span): "
FAILURES = (
    "overall slice: auc (candidate) = 0.5123 violates value_threshold "
    "{ lower_bound { value: 0.65 } }",
    "overall slice: auc (candidate, change vs baseline) = -0.2867 violates change_threshold "
    "{ absolute { value: -0.0100000001 } direction: HIGHER_IS_BETTER }",
)


def _gate(**overrides: object) -> ModelGate:
    fields: dict[str, object] = dict(
        metric="AUC",
        metric_key="auc",
        value=0.8443,
        lower_bound=0.65,
        value_passed=True,
        baseline_value=0.8390,
        change=0.0053,
        allowed_change=-0.0100000001,
        change_passed=True,
        blessed=True,
    )
    fields.update(overrides)
    return ModelGate(**fields)  # type: ignore[arg-type]


def _failed_gate() -> ModelGate:
    """Worse than the floor and than the baseline: both checks fail."""
    return _gate(
        value=0.5123,
        value_passed=False,
        baseline_value=0.7990,
        change=-0.2867,
        change_passed=False,
        blessed=False,
        failures=FAILURES,
    )


def _summary(gate: ModelGate | None, blessed: bool, pushed: bool) -> RunSummary:
    return RunSummary(
        pipeline_name="clicks",
        run_id="run-1",
        nodes=(NodeRun("Evaluator", "ran", 5.0, 7),),
        metrics={"auc": 0.5123},
        blessed=blessed,
        baseline_model_uri="/out/Trainer/model/10",
        pushed=pushed,
        pushed_destination="/out/serving/clicks/17" if pushed else None,
        model_uri="/out/Trainer/model/21",
        model_gate=gate,
    )


def test_first_model_passes_on_one_line_without_a_baseline() -> None:
    gate = _gate(baseline_value=None, change=None, allowed_change=None, change_passed=None)
    assert format_gate(gate, pushed=True) == (
        SCOPE + "candidate 0.8443 >= lower bound 0.6500 -> PASS; "
        "no baseline (first model), no comparison. Blessed and pushed."
    )


def test_pass_against_a_baseline_is_one_line() -> None:
    assert format_gate(_gate(), pushed=True) == (
        SCOPE + "candidate 0.8443 >= lower bound 0.6500 -> PASS; "
        "baseline 0.8390, change +0.0053 >= allowed -0.0100 -> PASS. Blessed and pushed."
    )


def test_worse_than_floor_and_baseline_explains_both_checks_and_lists_tfma_failures() -> None:
    gate = _failed_gate()
    lines = format_gate(gate, pushed=False).splitlines()
    assert lines[0] == (
        SCOPE + "candidate 0.5123 < lower bound 0.6500 -> FAIL; "
        "baseline 0.7990, change -0.2867 < allowed -0.0100 -> FAIL. "
        "Not blessed, not pushed; the served model is unchanged."
    )
    assert lines[1] == "  TFMA validation failures:"
    assert lines[2:] == [f"    {failure}" for failure in FAILURES]


def test_regression_within_the_floor_fails_only_the_change_check() -> None:
    gate = _gate(value=0.80, baseline_value=0.85, change=-0.05, change_passed=False, blessed=False)
    assert format_gate(gate, pushed=False) == (
        SCOPE + "candidate 0.8000 >= lower bound 0.6500 -> PASS; "
        "baseline 0.8500, change -0.0500 < allowed -0.0100 -> FAIL. "
        "Not blessed, not pushed; the served model is unchanged."
    )


def test_change_exactly_at_the_tolerance_reads_as_within_it() -> None:
    # The pipeline subtracts 1e-10 so a regression of exactly max_regression passes.
    gate = _gate(value=0.84, baseline_value=0.85, change=-0.01)
    assert "change -0.0100 >= allowed -0.0100 -> PASS" in format_gate(gate, pushed=True)


def test_lower_is_better_and_upper_bound_read_the_right_way_round() -> None:
    gate = _gate(
        metric="MeanSquaredError",
        metric_key="mean_squared_error",
        value=0.30,
        lower_bound=None,
        upper_bound=0.25,
        value_passed=False,
        baseline_value=0.20,
        change=0.10,
        allowed_change=0.01,
        higher_is_better=False,
        change_passed=False,
        blessed=False,
    )
    text = format_gate(gate, pushed=False)
    assert "candidate 0.3000 > upper bound 0.2500 -> FAIL" in text
    assert "baseline 0.2000, change +0.1000 > allowed +0.0100 -> FAIL" in text


def test_missing_metric_fails_visibly() -> None:
    gate = _gate(value=None, value_passed=False, blessed=False)
    assert "candidate: TFMA recorded no auc -> FAIL" in format_gate(gate, pushed=False)


def test_blessed_but_nothing_pushed_says_so() -> None:
    assert format_gate(_gate(), pushed=False).endswith("Blessed; nothing new pushed this run.")


def test_gate_is_frozen() -> None:
    with pytest.raises(AttributeError):
        _gate().value = 0.1  # type: ignore[misc]


def test_run_summary_prints_the_gate_and_keeps_the_blessed_line() -> None:
    gate = _failed_gate()
    text = format_summary(_summary(gate, blessed=False, pushed=False))
    lines = text.splitlines()
    gate_line = lines.index(format_gate(gate, pushed=False).splitlines()[0])
    assert lines[gate_line + 4] == "Blessed: no (baseline: /out/Trainer/model/10)"
    assert lines[-1] == "Pushed: nothing new this run"
    assert "  auc                             0.5123" in lines


def test_run_summary_without_a_gate_is_unchanged() -> None:
    text = format_summary(_summary(None, blessed=True, pushed=True))
    assert "Model gate" not in text
    assert "Blessed: yes (baseline: /out/Trainer/model/10)" in text
    assert text.endswith("Pushed to: /out/serving/clicks/17")


def test_summary_module_does_not_import_tfma(repo: Path) -> None:
    # Light code (the CLI before a run, Airflow DAG parsing) imports the summary.
    check = (
        "import sys, pipeline.ops.summary, pipeline.views.summary; "
        "print('tensorflow_model_analysis' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", check], capture_output=True, text=True, cwd=repo, timeout=120
    )
    assert result.stdout.strip() == "False", result.stderr[-2000:]


def _tflite(**overrides: object) -> TFLiteExport:
    fields: dict[str, object] = dict(
        within_bound=True,
        reason="|AUC float - TFLite| = 0.0000 <= export.tflite_max_metric_delta 0.0100",
        size_bytes=33144,
        float_size_bytes=524974,
        quantized_weights=0,
        metric="AUC",
        float_value=0.7989,
        tflite_value=0.7989,
        delta=0.0,
        max_delta=0.01,
        pushed=True,
        push_reason="pushed (33144 bytes): ...",
    )
    fields.update(overrides)
    return TFLiteExport(**fields)  # type: ignore[arg-type]


def test_tflite_line_when_pushed() -> None:
    summary = dataclasses.replace(_summary(_gate(), blessed=True, pushed=True), tflite=_tflite())
    assert format_summary(summary).splitlines()[-1] == (
        "TFLite: 33,144 bytes (float SavedModel 524,974 bytes, 0 int8 weight tensors); "
        "AUC float 0.7989, TFLite 0.7989, delta +0.0000 (|delta| <= bound 0.0100) "
        "-> pushed as /out/serving/clicks/17/model.tflite."
    )


def test_tflite_line_when_refused_says_the_savedmodel_is_unaffected() -> None:
    line = format_tflite(
        _tflite(
            within_bound=False,
            tflite_value=0.7612,
            delta=0.0377,
            pushed=False,
            push_reason="refused: ...",
        ),
        "/out/serving/clicks/17",
    )
    assert line.endswith(
        "AUC float 0.7989, TFLite 0.7612, delta +0.0377 (|delta| > bound 0.0100) "
        "-> refused, model.tflite not pushed (the SavedModel is unaffected)."
    )


def test_tflite_line_without_a_measurement_gives_the_reason() -> None:
    line = format_tflite(
        _tflite(
            within_bound=False,
            reason="conversion failed: ConverterError: op X",
            size_bytes=0,
            metric=None,
            float_value=None,
            tflite_value=None,
            delta=None,
            pushed=False,
        )
    )
    assert line == (
        "TFLite: 0 bytes (float SavedModel 524,974 bytes, 0 int8 weight tensors); "
        "conversion failed: ConverterError: op X -> refused, model.tflite not pushed "
        "(the SavedModel is unaffected)."
    )


def test_tflite_line_for_an_unblessed_model_and_a_cache_hit() -> None:
    unblessed = _tflite(pushed=False, push_reason="not pushed: the model was not blessed")
    assert format_tflite(unblessed).endswith(
        "-> within bound; not pushed: the model was not blessed."
    )
    assert format_tflite(_tflite(pushed=None)).endswith(
        "-> within bound; nothing new pushed this run."
    )


def test_run_summary_without_tflite_has_no_tflite_line() -> None:
    assert "TFLite" not in format_summary(_summary(_gate(), blessed=True, pushed=True))


# ---------------------------------------------------------------------------------
# Reading a run back from ML Metadata (a hand-made store: no TFX run)

RESOLVER_TYPE = "tfx.dsl.components.common.resolver.Resolver"


def _artifact(store: mlmd.MetadataStore, type_name: str, **custom: int | str) -> Artifact:
    artifact = Artifact(type_id=store.put_artifact_type(ArtifactType(name=type_name)))
    artifact.uri = f"/out/{type_name}/{len(custom)}"
    for key, value in custom.items():
        if isinstance(value, int):
            artifact.custom_properties[key].int_value = value
        else:
            artifact.custom_properties[key].string_value = value
    [artifact.id] = store.put_artifacts([artifact])
    return artifact


def _execute(
    store: mlmd.MetadataStore,
    run_id: str,
    node: str,
    state: int,
    *,
    type_name: str | None = None,
    pipeline: str = PIPELINE,
    inputs: tuple[tuple[str, Artifact], ...] = (),
    outputs: tuple[tuple[str, Artifact], ...] = (),
) -> int:
    """Records an execution attributed as TFX's launcher attributes one."""
    execution = Execution(
        type_id=store.put_execution_type(ExecutionType(name=type_name or node)),
        last_known_state=state,
    )
    contexts = [
        ensure_context(store, PIPELINE_CONTEXT, pipeline),
        ensure_context(store, NODE_CONTEXT, f"{pipeline}.{node}"),
        ensure_context(store, RUN_CONTEXT, run_id),
    ]
    pairs = []
    for kind, items in ((Event.INPUT, inputs), (Event.OUTPUT, outputs)):
        for key, artifact in items:
            event = Event(type=kind)
            event.path.steps.add().key = key
            event.path.steps.add().index = 0
            pairs.append((artifact, event))
    execution_id, _, _ = store.put_execution(execution, pairs, contexts)
    return execution_id


def test_summarize_run_reads_this_pipelines_last_attempts_in_execution_order(
    tmp_path: Path,
) -> None:
    store = sqlite_store(tmp_path / "metadata.sqlite")
    _execute(store, "r1", "Trainer", Execution.FAILED)  # the attempt Airflow retried
    trainer = _execute(store, "r1", "Trainer", Execution.COMPLETE)
    _execute(store, "r1", "span_window", Execution.COMPLETE, type_name=RESOLVER_TYPE)
    _execute(store, "r1", "StatisticsGen", Execution.CACHED)
    _execute(store, "r1", "CsvExampleGen", Execution.COMPLETE)
    _execute(store, "r1", "Evaluator", Execution.COMPLETE, pipeline="other")  # same run id
    pushed = _artifact(store, "PushedModel", pushed=1, pushed_destination="/serving/clicks/17")
    _execute(store, "r1", "Pusher", Execution.COMPLETE, outputs=(("pushed_model", pushed),))

    summary = summarize_run(store, PIPELINE, "r1")

    assert [(n.node_id, n.state) for n in summary.nodes] == [
        ("CsvExampleGen", "ran"),
        ("StatisticsGen", "cached"),
        ("span_window", "resolved"),
        ("Trainer", "ran"),
        ("Pusher", "ran"),
    ]
    assert summary.node("Trainer").execution_id == trainer
    assert summary.blessed is None and summary.model_gate is None and summary.tflite is None
    assert summary.pushed and summary.pushed_destination == "/serving/clicks/17"
    # A caller's order (the compiled pipeline's) wins; nodes not in the run are skipped.
    ordered = summarize_run(store, PIPELINE, "r1", ["Pusher", "Evaluator", "Trainer"])
    assert [n.node_id for n in ordered.nodes] == ["Pusher", "Trainer"]
    with pytest.raises(LookupError):
        summarize_run(store, PIPELINE, "r2")


def test_ingested_and_validated_spans(tmp_path: Path) -> None:
    store = sqlite_store(tmp_path / "metadata.sqlite")
    examples = {span: _artifact(store, "Examples", span=span) for span in (3, 4, 5, 6)}
    for span in (3, 4, 5):
        _execute(
            store,
            f"r{span}",
            "CsvExampleGen",
            Execution.COMPLETE,
            outputs=(("examples", examples[span]),),
        )
    # The gate judged span 3 (passed) and 4 (rejected: FAILED); 5 was canceled.
    for span, state in ((3, Execution.COMPLETE), (4, Execution.FAILED), (5, Execution.CANCELED)):
        _execute(store, f"r{span}", "DataGate", state, inputs=(("examples", examples[span]),))

    assert ingested_spans(store, PIPELINE, "CsvExampleGen") == {3, 4, 5}
    assert validated_spans(store, PIPELINE) == {3, 4}
    assert validated_spans(store, "other") == set()
