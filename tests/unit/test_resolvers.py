"""The resolvers (components.resolvers) on real TFX artifacts: the Evaluator's
baseline, the warm-start model, the training window, the drift baseline and
Transform's analyzer cache."""

from __future__ import annotations

import pytest
from tfx.types import standard_artifacts

from components.data_gate import DataGateReport
from components.resolvers import (
    BLESSING_KEY,
    CACHE_KEY,
    CANDIDATE_KEY,
    CURRENT_KEY,
    EXAMPLES_KEY,
    MODEL_KEY,
    REPORTS_KEY,
    STATISTICS_KEY,
    AnalyzerCacheStrategy,
    LatestBlessedOtherModelStrategy,
    PassedSpanWindowStrategy,
    PreviousPassedStatisticsStrategy,
    WarmStartModelStrategy,
)


def _model(artifact_id: int) -> standard_artifacts.Model:
    model = standard_artifacts.Model()
    model.id = artifact_id
    model.uri = f"/pipeline/Trainer/model/{artifact_id}"
    return model


def _blessing(model_id: int, blessed: bool = True, artifact_id: int | None = None):
    blessing = standard_artifacts.ModelBlessing()
    blessing.id = artifact_id if artifact_id is not None else 100 + model_id
    blessing.set_int_custom_property("blessed", 1 if blessed else 0)
    blessing.set_int_custom_property("current_model_id", model_id)
    return blessing


def _resolve(models, blessings, candidate):
    input_dict = {MODEL_KEY: models, BLESSING_KEY: blessings, CANDIDATE_KEY: candidate}
    return LatestBlessedOtherModelStrategy().resolve_artifacts(None, input_dict)


def _ids(artifacts) -> list[int]:
    return [artifact.id for artifact in artifacts]


def test_no_blessed_models_gives_no_baseline() -> None:
    models = [_model(1), _model(2), _model(3)]
    result = _resolve(models, [], [models[2]])
    assert result[MODEL_KEY] == []
    assert result[BLESSING_KEY] == []


def test_only_unblessed_blessings_give_no_baseline() -> None:
    models = [_model(1), _model(2), _model(3)]
    result = _resolve(models, [_blessing(1, False), _blessing(2, False)], [models[2]])
    assert result[MODEL_KEY] == []
    assert result[BLESSING_KEY] == []


def test_no_models_at_all() -> None:
    result = _resolve([], [], [])
    assert result == {MODEL_KEY: [], BLESSING_KEY: [], CANDIDATE_KEY: []}


def test_latest_blessed_model_other_than_candidate() -> None:
    models = [_model(1), _model(2), _model(3)]
    blessings = [_blessing(1), _blessing(2)]
    result = _resolve(models, blessings, [models[2]])
    assert _ids(result[MODEL_KEY]) == [2]
    assert result[MODEL_KEY][0] is models[1]
    assert result[BLESSING_KEY] == [blessings[1]]


def test_order_of_inputs_does_not_matter() -> None:
    models = [_model(2), _model(3), _model(1)]
    blessings = [_blessing(2), _blessing(1)]
    result = _resolve(models, blessings, [_model(3)])
    assert _ids(result[MODEL_KEY]) == [2]


def test_candidate_that_is_the_latest_blessed_is_excluded() -> None:
    # A cached rerun: the Trainer's output (2) was blessed on the first run; the
    # baseline must stay what it was then (1), not the candidate itself.
    models = [_model(1), _model(2)]
    blessings = [_blessing(1), _blessing(2)]
    result = _resolve(models, blessings, [models[1]])
    assert _ids(result[MODEL_KEY]) == [1]
    assert result[BLESSING_KEY] == [blessings[0]]


def test_candidate_as_a_distinct_artifact_object_with_the_same_id_is_excluded() -> None:
    # The candidate channel and the all-models channel hold different Python
    # objects for the same MLMD artifact; exclusion is by id.
    models = [_model(1), _model(2)]
    result = _resolve(models, [_blessing(1), _blessing(2)], [_model(2)])
    assert _ids(result[MODEL_KEY]) == [1]


def test_candidate_is_the_only_blessed_model() -> None:
    models = [_model(1), _model(2)]
    result = _resolve(models, [_blessing(2)], [models[1]])
    assert result[MODEL_KEY] == []
    assert result[BLESSING_KEY] == []


def test_unblessed_blessing_is_ignored() -> None:
    models = [_model(1), _model(2), _model(3), _model(4)]
    blessings = [_blessing(1), _blessing(2, blessed=False), _blessing(3, blessed=False)]
    result = _resolve(models, blessings, [models[3]])
    assert _ids(result[MODEL_KEY]) == [1]
    assert result[BLESSING_KEY] == [blessings[0]]


def test_blessing_for_an_unknown_model_is_ignored() -> None:
    models = [_model(1), _model(2)]
    result = _resolve(models, [_blessing(1), _blessing(99)], [models[1]])
    assert _ids(result[MODEL_KEY]) == [1]


@pytest.mark.parametrize(
    ("models", "blessings", "candidate"),
    [
        ([], [], []),
        ([1, 2], [], [2]),
        ([1, 2, 3], [1, 2], [3]),
        ([1, 2], [1, 2], [2]),
        ([1, 2], [2], [2]),
    ],
)
def test_candidate_key_is_always_passed_through_unchanged(models, blessings, candidate) -> None:
    all_models = [_model(i) for i in models]
    candidates = [m for m in all_models if m.id in candidate]
    result = _resolve(all_models, [_blessing(i) for i in blessings], candidates)
    assert set(result) == {MODEL_KEY, BLESSING_KEY, CANDIDATE_KEY}
    assert len(result[CANDIDATE_KEY]) == len(candidates)
    assert all(a is b for a, b in zip(result[CANDIDATE_KEY], candidates, strict=True))


def test_input_lists_are_not_mutated() -> None:
    models = [_model(1), _model(3), _model(2)]
    blessings = [_blessing(1), _blessing(3)]
    candidate = [models[2]]
    input_dict = {MODEL_KEY: models, BLESSING_KEY: blessings, CANDIDATE_KEY: candidate}
    LatestBlessedOtherModelStrategy().resolve_artifacts(None, input_dict)
    assert _ids(input_dict[MODEL_KEY]) == [1, 3, 2]
    assert _ids(input_dict[BLESSING_KEY]) == [101, 103]
    assert _ids(input_dict[CANDIDATE_KEY]) == [2]


# --- The training window and the drift baseline: only spans that passed the gate.


def _examples(artifact_id: int, span: int) -> standard_artifacts.Examples:
    examples = standard_artifacts.Examples()
    examples.id = artifact_id
    examples.set_int_custom_property("span", span)
    return examples


def _statistics(artifact_id: int) -> standard_artifacts.ExampleStatistics:
    statistics = standard_artifacts.ExampleStatistics()
    statistics.id = artifact_id
    return statistics


def _report(artifact_id: int, examples: standard_artifacts.Examples, statistics_id: int = 0):
    report = DataGateReport()
    report.id = artifact_id
    report.set_int_custom_property("passed", 1)
    report.set_int_custom_property("span", examples.get_int_custom_property("span"))
    report.set_int_custom_property("examples_id", examples.id)
    report.set_int_custom_property("statistics_id", statistics_id)
    return report


def _window(examples, reports, num_spans: int = 3):
    return PassedSpanWindowStrategy(num_spans).resolve_artifacts(
        None, {EXAMPLES_KEY: examples, REPORTS_KEY: reports}
    )


def test_window_leaves_out_spans_the_gate_rejected() -> None:
    # Spans 10..14; 12 was rejected (no passing report): the window skips it and
    # reaches back to 10 for three spans.
    examples = [_examples(i, 10 + i) for i in range(5)]
    reports = [_report(100 + i, e) for i, e in enumerate(examples) if e.id != 2]
    result = _window(examples, reports)
    assert [e.get_int_custom_property("span") for e in result[EXAMPLES_KEY]] == [11, 13, 14]
    assert {r.get_int_custom_property("span") for r in result[REPORTS_KEY]} == {11, 13, 14}


def test_window_takes_the_newest_passing_version_of_a_span() -> None:
    # Span 11 was re-ingested twice; the newest version failed, the middle one passed.
    old, middle, newest = _examples(1, 11), _examples(2, 11), _examples(3, 11)
    result = _window(
        [old, middle, newest, _examples(4, 12)],
        [_report(10, old), _report(11, middle), _report(12, _examples(4, 12))],
    )
    assert [e.id for e in result[EXAMPLES_KEY]] == [2, 4]


def test_window_ignores_reports_that_did_not_pass() -> None:
    examples = [_examples(1, 10), _examples(2, 11)]
    failed = _report(11, examples[1])
    failed.set_int_custom_property("passed", 0)
    result = _window(examples, [_report(10, examples[0]), failed])
    assert [e.id for e in result[EXAMPLES_KEY]] == [1]


def test_window_is_empty_without_reports() -> None:
    assert _window([_examples(1, 10)], []) == {EXAMPLES_KEY: [], REPORTS_KEY: []}


def test_window_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="num_spans"):
        PassedSpanWindowStrategy(0)


def _previous(current, statistics, reports):
    return PreviousPassedStatisticsStrategy().resolve_artifacts(
        None, {CURRENT_KEY: current, STATISTICS_KEY: statistics, REPORTS_KEY: reports}
    )


def test_drift_baseline_is_the_newest_older_span_that_passed() -> None:
    examples = [_examples(i, 10 + i) for i in range(4)]
    statistics = [_statistics(50 + i) for i in range(4)]
    # Span 12 was rejected; the current span is 13: compare with 11, not 12.
    reports = [_report(100 + i, examples[i], 50 + i) for i in (0, 1)]
    result = _previous([examples[3]], statistics, reports)
    assert [s.id for s in result[STATISTICS_KEY]] == [51]
    assert result[CURRENT_KEY] == [examples[3]]
    assert result[REPORTS_KEY] == [reports[1]]


def test_drift_baseline_never_is_the_current_span_or_a_newer_one() -> None:
    # A backfill of span 11 after span 12 passed, and a rerun of 12 itself.
    examples = [_examples(1, 10), _examples(2, 12)]
    reports = [_report(10, examples[0], 50), _report(11, examples[1], 51)]
    statistics = [_statistics(50), _statistics(51)]
    assert [s.id for s in _previous([_examples(3, 11)], statistics, reports)[STATISTICS_KEY]] == [
        50
    ]
    assert [s.id for s in _previous([examples[1]], statistics, reports)[STATISTICS_KEY]] == [50]


def test_no_drift_baseline_on_the_first_span() -> None:
    result = _previous([_examples(1, 10)], [_statistics(50)], [])
    assert result[STATISTICS_KEY] == [] and result[REPORTS_KEY] == []


def _warm_start(models, blessings, current):
    input_dict = {MODEL_KEY: models, BLESSING_KEY: blessings, CURRENT_KEY: current}
    return WarmStartModelStrategy().resolve_artifacts(None, input_dict)


def test_warm_start_takes_the_latest_model_blessed_before_the_span_arrived() -> None:
    models = [_model(1), _model(2), _model(3)]
    # Model 1 blessed (blessing 10), model 2 not, then span's Examples (id 20),
    # then model 3 trained on it and blessed (blessing 30).
    blessings = [_blessing(1, artifact_id=10), _blessing(2, False, 11), _blessing(3, True, 30)]
    result = _warm_start(models, blessings, [_examples(20, 3)])
    assert _ids(result[MODEL_KEY]) == [1]
    assert _ids(result[BLESSING_KEY]) == [10]
    assert _ids(result[CURRENT_KEY]) == [20]


def test_warm_start_on_a_new_span_takes_the_newest_blessed_model() -> None:
    models = [_model(1), _model(3)]
    blessings = [_blessing(1, artifact_id=10), _blessing(3, True, 30)]
    assert _ids(_warm_start(models, blessings, [_examples(40, 4)])[MODEL_KEY]) == [3]


def test_no_warm_start_model_before_anything_was_blessed() -> None:
    result = _warm_start([_model(3)], [_blessing(3, True, 30)], [_examples(20, 3)])
    assert result[MODEL_KEY] == []
    assert result[BLESSING_KEY] == []
    assert _ids(result[CURRENT_KEY]) == [20]


# --- Transform's analyzer cache: the newest one recorded before this span arrived.


def _cache(artifact_id: int) -> standard_artifacts.TransformCache:
    cache = standard_artifacts.TransformCache()
    cache.id = artifact_id
    return cache


def _analyzer_cache(caches, current):
    input_dict = {CACHE_KEY: caches, CURRENT_KEY: current}
    return AnalyzerCacheStrategy().resolve_artifacts(None, input_dict)


def test_analyzer_cache_is_the_newest_written_before_the_span_arrived() -> None:
    # Day 2's run wrote cache 12, then day 3's Examples (id 20) arrived and its
    # first run wrote cache 25: a rerun of day 3 must read 12 again (the same
    # Transform inputs, a TFX cache hit), never the 25 its own first run wrote.
    result = _analyzer_cache([_cache(5), _cache(25), _cache(12)], [_examples(20, 3)])
    assert _ids(result[CACHE_KEY]) == [12]
    assert _ids(result[CURRENT_KEY]) == [20]


def test_a_new_span_reads_the_cache_the_previous_day_wrote() -> None:
    result = _analyzer_cache([_cache(12), _cache(25)], [_examples(30, 4)])
    assert _ids(result[CACHE_KEY]) == [25]


def test_no_analyzer_cache_on_the_first_run() -> None:
    assert _analyzer_cache([], [_examples(20, 3)])[CACHE_KEY] == []
    assert _analyzer_cache([_cache(25)], [_examples(20, 3)])[CACHE_KEY] == []
    assert _analyzer_cache([_cache(25)], []) == {CACHE_KEY: [], CURRENT_KEY: []}
