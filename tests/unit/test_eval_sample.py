"""evaluation.max_examples: the key, the eval config it implies, the Evaluator node, the
seeded sample itself (Beam, in-process), and how the summary reports it
(tests/e2e/test_eval_sample_e2e.py runs it on a real pipeline)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import apache_beam as beam
import tensorflow_model_analysis as tfma
from apache_beam.testing.util import assert_that
from tfx.components import Evaluator

from components.eval_sample import SampledEvaluator, SampleRecords, sample_rank, sample_records
from pipeline import pipeline as topology
from pipeline.config import load_config
from pipeline.nodes import EVALUATOR, TFLITE_CONVERTER
from pipeline.ops.summary import EvalSample, NodeRun, RunSummary
from pipeline.views.summary import format_summary
from tests.support.config import Raw, expect_config_error, write_config

RECORDS = [f"example-{i}".encode() for i in range(200)]


def _with_max_examples(tmp_path: Path, value: object) -> Path:
    def mutate(raw: Raw) -> None:
        raw["evaluation"]["max_examples"] = value

    return write_config(tmp_path, mutate)


# --- the key --------------------------------------------------------------------------


def test_max_examples_null_means_every_row(tmp_path: Path) -> None:
    config = load_config(_with_max_examples(tmp_path, None))
    assert config.evaluation.max_examples is None


def test_clicks_evaluates_a_sample_of_20000_rows(tmp_path: Path) -> None:
    assert load_config(write_config(tmp_path)).evaluation.max_examples == 20000


def test_max_examples_is_read(tmp_path: Path) -> None:
    config = load_config(_with_max_examples(tmp_path, 20000))
    assert config.evaluation.max_examples == 20000


def test_max_examples_must_be_a_positive_whole_number(tmp_path: Path) -> None:
    for bad in (0, 2.5, "all"):
        expect_config_error(
            _with_max_examples(tmp_path, bad), "evaluation.max_examples", "a whole number >= 1"
        )


# --- the eval config and the node ------------------------------------------------------


def _metric_classes(config: tfma.EvalConfig) -> list[str]:
    return [m.class_name for spec in config.metrics_specs for m in spec.metrics]


def test_no_sample_computes_no_confidence_intervals(tmp_path: Path) -> None:
    options = topology.eval_config(load_config(_with_max_examples(tmp_path, None))).options
    assert not options.compute_confidence_intervals.value


def test_an_auc_gate_on_a_sample_needs_no_jackknife_only_the_mean_label(tmp_path: Path) -> None:
    def mutate(raw: Raw) -> None:
        raw["evaluation"]["metrics"] = ["ExampleCount", "AUC"]
        raw["evaluation"]["max_examples"] = 20000

    eval_config = topology.eval_config(load_config(write_config(tmp_path, mutate)))
    assert not eval_config.options.compute_confidence_intervals.value
    # Hanley-McNeil needs the positives and negatives: the mean label times the count.
    assert _metric_classes(eval_config) == ["ExampleCount", "AUC", "MeanLabel"]


def test_another_gate_metric_on_a_sample_turns_on_tfmas_jackknife(tmp_path: Path) -> None:
    def mutate(raw: Raw) -> None:
        raw["evaluation"]["gate_metric"] = "Precision"
        raw["evaluation"]["slice_thresholds"] = []
        raw["evaluation"]["max_examples"] = 20000

    eval_config = topology.eval_config(load_config(write_config(tmp_path, mutate)))
    assert eval_config.options.compute_confidence_intervals.value
    assert eval_config.options.confidence_intervals.method == (
        tfma.ConfidenceIntervalOptions.JACKKNIFE
    )


def _evaluator(config_path: Path) -> SampledEvaluator:
    config = load_config(config_path)
    pipeline = topology.create_pipeline(config)
    (node,) = [n for n in pipeline.components if n.id == EVALUATOR]
    assert isinstance(node, SampledEvaluator)
    return node


def test_the_evaluator_samples_only_when_asked(tmp_path: Path) -> None:
    # One Evaluator either way (its executor records the metrics for the ops views);
    # max_examples 0 evaluates every row.
    assert _evaluator(_with_max_examples(tmp_path, None)).exec_properties["max_examples"] == 0
    sampled = _evaluator(_with_max_examples(tmp_path, 1234))
    assert sampled.exec_properties["max_examples"] == 1234
    assert sampled.exec_properties["sample_seed"] == topology.EVAL_SAMPLE_SEED
    assert issubclass(
        type(sampled).EXECUTOR_SPEC.executor_class, Evaluator.EXECUTOR_SPEC.executor_class
    )


def test_the_bench_switch_undoes_the_sample(tmp_path: Path, monkeypatch: object) -> None:
    monkeypatch.setattr(topology, "EVAL_SAMPLING", False)  # type: ignore[attr-defined]
    assert _evaluator(_with_max_examples(tmp_path, 1234)).exec_properties["max_examples"] == 0
    assert _tflite_node(_with_max_examples(tmp_path, 1234)).exec_properties["max_examples"] == 0


def _tflite_node(config_path: Path) -> object:
    pipeline = topology.create_pipeline(load_config(config_path))
    (node,) = [n for n in pipeline.components if n.id == TFLITE_CONVERTER]
    return node


def test_the_tflite_check_samples_the_evaluators_rows(tmp_path: Path) -> None:
    node = _tflite_node(_with_max_examples(tmp_path, 1234))
    assert node.exec_properties["max_examples"] == 1234  # type: ignore[attr-defined]
    assert node.exec_properties["sample_seed"] == topology.EVAL_SAMPLE_SEED  # type: ignore[attr-defined]
    every_row = _tflite_node(_with_max_examples(tmp_path, None))
    assert every_row.exec_properties["max_examples"] == 0  # type: ignore[attr-defined]


# --- the sample -------------------------------------------------------------------------


def _sample(records: list[bytes], max_examples: int, seed: int) -> list[bytes]:
    expected = sorted(records, key=lambda record: sample_rank(record, seed))[:max_examples]

    def check(actual: list[bytes]) -> None:
        assert sorted(actual) == sorted(expected)

    with beam.Pipeline() as pipeline:
        sample = pipeline | beam.Create(records) | SampleRecords(max_examples, seed)
        assert_that(sample, check)
    return expected


def test_the_sample_is_the_smallest_keyed_hashes_and_at_most_max_examples() -> None:
    sample = _sample(RECORDS, 20, seed=18)
    assert len(sample) == 20 and set(sample) <= set(RECORDS)


def test_the_sample_depends_on_the_seed_not_on_the_order() -> None:
    assert _sample(RECORDS, 20, seed=18) == _sample(list(reversed(RECORDS)), 20, seed=18)
    assert set(_sample(RECORDS, 20, seed=18)) != set(_sample(RECORDS, 20, seed=19))


def test_the_in_process_sample_is_the_beam_sample() -> None:
    # The TFLite check draws its sample without Beam; it must be the Evaluator's rows.
    assert sorted(sample_records(RECORDS, 50, seed=18)) == sorted(_sample(RECORDS, 50, seed=18))
    assert sorted(sample_records(RECORDS, 500, seed=18)) == sorted(RECORDS)


def test_a_split_smaller_than_max_examples_is_kept_whole() -> None:
    assert sorted(_sample(RECORDS, 1000, seed=18)) == sorted(RECORDS)


def test_the_keyed_hash_does_not_follow_the_records_order() -> None:
    # A random sample of 0..199 taken by rank has a mean near 100, not near 10.
    sample = _sample(RECORDS, 50, seed=18)
    mean = sum(int(record.split(b"-")[1]) for record in sample) / len(sample)
    assert 60 < mean < 140


# --- the summary -------------------------------------------------------------------------


def _summary(sample: EvalSample | None) -> RunSummary:
    return RunSummary(
        pipeline_name="clicks",
        run_id="run-1",
        nodes=(NodeRun("Evaluator", "ran", 5.0, 7),),
        metrics={"auc": 0.8123},
        blessed=True,
        baseline_model_uri=None,
        pushed=False,
        pushed_destination=None,
        model_uri="/out/Trainer/model/21",
        eval_sample=sample,
    )


def test_summary_reports_the_sample_size_and_standard_errors() -> None:
    sample = EvalSample(20000, 200000, "auc", 0.0041, 0.0058, "Hanley-McNeil", True)
    text = format_summary(_summary(sample))
    assert "a seeded sample of 20,000 of 200,000 rows" in text
    assert "auc standard error 0.0041 (Hanley-McNeil; change vs baseline ≤ 0.0058; n = 20,000)" in (
        text
    )
    jackknife = EvalSample(20000, 200000, "precision", 0.0041, 0.0012, "TFMA jackknife")
    assert "(TFMA jackknife; change vs baseline 0.0012; n = 20,000)" in format_summary(
        _summary(jackknife)
    )


def test_summary_says_a_split_within_the_sample_size_was_evaluated_whole() -> None:
    text = format_summary(_summary(EvalSample(1000, 1000, "auc", 0.02, None, "Hanley-McNeil")))
    assert "eval split of the newest span, all 1,000 of 1,000 rows" in text
    assert "seeded sample" not in text


def test_summary_without_a_sample_says_all_examples() -> None:
    text = format_summary(_summary(None))
    assert "all examples" in text and "standard error" not in text


def test_eval_sample_is_frozen() -> None:
    sample = EvalSample(1, 2, "auc")
    assert dataclasses.is_dataclass(sample)
    try:
        sample.examples = 3  # type: ignore[misc]
    except dataclasses.FrozenInstanceError:
        return
    raise AssertionError("EvalSample is mutable")


def test_report_page_states_the_sample_and_its_standard_errors() -> None:
    from pipeline.ops.model_gate import SliceMetrics
    from pipeline.views import charts, report

    def page(sample: EvalSample | None) -> str:
        return report.render(
            report.RunReport(
                summary=_summary(sample),
                model_name="clicks",
                status="succeeded",
                statistics=None,
                anomalies=None,
                distances=(),
                slices=(SliceMetrics("overall", {"auc": 0.8123}),),
                baseline={},
                lineage=charts.svg_lineage([charts.Box("Trainer", "Trainer", "#fff", 0)], []),
            )
        )

    sampled = page(EvalSample(20000, 200000, "auc", 0.0041, 0.0058, "Hanley-McNeil", True))
    assert "A seeded sample of 20,000 of 200,000 rows" in sampled
    assert "auc standard error 0.0041, of the change vs the baseline ≤ 0.0058 (Hanley-McNeil)" in (
        sampled
    )
    assert "All 900 of 900 rows" in page(EvalSample(900, 900, "auc", 0.02))
    assert 'id="eval-sample"' not in page(None)
