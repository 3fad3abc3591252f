"""The data gate's policy and report, on real TFDV anomalies and statistics."""

from __future__ import annotations

import dataclasses
import json
import re

import numpy as np
import pandas as pd
import pytest
import tensorflow_data_validation as tfdv
from tensorflow_metadata.proto.v0 import anomalies_pb2, statistics_pb2

from components.data_gate import (
    NO_DATA,
    REPORT_FILE,
    comparator_schema,
    distance_findings,
    findings,
    measure_distances,
    report,
    single_class_finding,
)
from components.label_guard import class_label_stats_options, label_comparable, label_statistics
from pipeline.config import ConfigError, DistanceThresholds, load_config
from pipeline.config.sections import label_is_class, label_measure
from pipeline.ops import summary
from tests.support.cli import REPO
from tests.support.config import write_config

SCHEMA = tfdv.load_schema_text(str(REPO / "schemas" / "clicks" / "schema.pbtxt"))


def _anomalies(frame: pd.DataFrame) -> anomalies_pb2.Anomalies:
    return tfdv.validate_statistics(tfdv.generate_statistics_from_dataframe(frame), SCHEMA)


def _day(rows: int = 200, drift: float = 0.0, day: int = 1) -> pd.DataFrame:
    import datetime

    from pipeline.devtools import clickgen

    return clickgen.generate_day(datetime.date(2026, 11, day), rows=rows, seed=5, drift=drift)


CONFIG = load_config(REPO / "pipeline" / "configs" / "clicks.yaml")
LIMITS = CONFIG.validation.drift.for_features(CONFIG.features)
KINDS = {name: kind for name, (kind, _) in LIMITS.items()}


def _distances(current: pd.DataFrame, previous: pd.DataFrame, skew: bool = False):
    stats = tfdv.generate_statistics_from_dataframe
    schema = comparator_schema(SCHEMA, {} if skew else LIMITS, LIMITS if skew else {})
    other = stats(previous)
    return measure_distances(
        stats(current), schema, None if skew else other, other if skew else None
    )[1]


def test_clean_data_passes() -> None:
    found = findings({"train": _anomalies(_day())}, warn_only=())
    assert [f for f in found if f.blocking] == []
    assert report(20758, found).startswith("Data gate: span 20758 passed")


def test_out_of_range_and_unseen_values_block_with_feature_and_kind() -> None:
    frame = _day()
    frame.loc[:5, "purchase_quantity"] = -3
    frame.loc[:50, "device"] = "smartwatch"
    found = findings({"train": _anomalies(frame)}, warn_only=())
    blocking = {f.feature: f for f in found if f.blocking}
    assert set(blocking) == {"purchase_quantity", "device"}
    assert "ENUM_TYPE_UNEXPECTED_STRING_VALUES" in blocking["device"].kinds
    assert "smartwatch" in blocking["device"].description
    text = report(20758, found)
    assert text.startswith("Data gate: span 20758 has 2 blocking problems")
    assert "nothing was trained or pushed" in text


def test_warn_only_kinds_do_not_block() -> None:
    frame = _day()
    frame.loc[:50, "device"] = "smartwatch"
    found = findings(
        {"train": _anomalies(frame)}, warn_only=("ENUM_TYPE_UNEXPECTED_STRING_VALUES",)
    )
    assert [f.feature for f in found] == ["device"]
    assert not found[0].blocking
    assert "passed (1 warning(s))" in report(1, found)


def test_the_same_anomaly_in_both_splits_is_one_finding() -> None:
    frame = _day()
    frame.loc[:5, "purchase_quantity"] = -3
    anomalies = _anomalies(frame)
    found = findings({"eval": anomalies, "train": anomalies}, warn_only=())
    assert [(f.feature, f.split) for f in found] == [("purchase_quantity", "train, eval")]


def test_report_file_name_is_what_the_summary_reads() -> None:
    assert summary.GATE_REPORT_FILE == REPORT_FILE


def test_empty_dataset_blocks() -> None:
    # TFDV reports no anomaly at all for an empty dataset, only data_missing.
    empty = _anomalies(_day().iloc[:0])
    assert empty.data_missing and not empty.anomaly_info
    found = findings({"train": empty}, warn_only=())
    assert [(f.feature, f.kinds, f.blocking) for f in found] == [("(dataset)", (NO_DATA,), True)]


def test_config_limits_follow_feature_kinds() -> None:
    assert LIMITS["price"] == ("jensen_shannon", 0.2)
    assert LIMITS["rating"] == ("jensen_shannon", 0.1)
    assert LIMITS["hour"][0] == "jensen_shannon"
    assert LIMITS["device"] == ("l_infinity", 0.1)
    custom = DistanceThresholds(
        jensen_shannon=0.2, l_infinity=None, features={"device": 0.3, "price": None}
    )
    limits = custom.for_features(CONFIG.features)
    assert limits["device"] == ("l_infinity", 0.3)
    assert "price" not in limits and "region" not in limits
    assert limits["rating"] == ("jensen_shannon", 0.2)


def test_two_ordinary_days_are_within_every_drift_threshold() -> None:
    distances = _distances(_day(2000, day=2), _day(2000, day=1))
    assert {d.feature for d in distances} == set(LIMITS)
    assert [d.line() for d in distances if d.exceeded] == []
    assert distance_findings(distances, KINDS, ()) == []


def test_a_drifted_day_blocks_with_distance_and_threshold() -> None:
    distances = _distances(_day(2000, drift=1.0, day=2), _day(2000, day=1))
    exceeded = {d.feature: d for d in distances if d.exceeded}
    # Numeric drift is measured (TFDV's L-infinity would say 0 for numeric features).
    assert exceeded["hour"].measure == "Jensen-Shannon divergence"
    assert exceeded["device"].measure == "L-infinity distance"
    assert exceeded["device"].value > 0.3 and exceeded["device"].threshold == 0.1
    found = distance_findings(distances, KINDS, ())
    assert {f.feature for f in found} == set(exceeded)
    assert all(f.blocking for f in found)
    assert "COMPARATOR_L_INFTY_HIGH" in {k for f in found for k in f.kinds}
    assert "COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH" in {k for f in found for k in f.kinds}
    text = report(20760, found, distances, {"drift": "span 20759"})
    assert f"has {len(found)} blocking problems" in text
    assert (
        f"device: drift L-infinity distance {exceeded['device'].value:.4f} > threshold 0.1000"
        in text
    )
    # Every compared feature is listed with its distance, within limits or not.
    assert all(f"  {d.line()}" in text for d in distances)


def test_drift_can_be_made_warn_only() -> None:
    distances = _distances(_day(2000, drift=1.0, day=2), _day(2000, day=1))
    found = distance_findings(
        distances, KINDS, ("COMPARATOR_L_INFTY_HIGH", "COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH")
    )
    assert found and not any(f.blocking for f in found)


def test_skew_against_serving_data_is_measured_separately() -> None:
    serving = _day(2000, drift=1.0, day=2).drop(columns=["clicked"])
    distances = _distances(_day(2000, day=1), serving, skew=True)
    assert distances and {d.comparison for d in distances} == {"skew"}
    assert {d.feature for d in distances if d.exceeded} >= {"device", "hour"}


# --- the label: its drift against the previous passing span, and a one-class eval split ---

LABEL = CONFIG.features.label
LABEL_LIMIT = CONFIG.validation.label_limit(CONFIG.features)


def _class_stats(frame: pd.DataFrame) -> statistics_pb2.DatasetFeatureStatisticsList:
    """Statistics as the pipeline's StatisticsGen computes them (class counts for the label)."""
    return tfdv.generate_statistics_from_dataframe(frame, class_label_stats_options(LABEL))


def _label_distances(current, previous) -> list:
    schema = comparator_schema(SCHEMA, {LABEL: LABEL_LIMIT}, {})
    return measure_distances(current, schema, previous, None)[1]


def _all_zero(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(**{LABEL: 0})


def test_label_drift_is_on_by_default_with_its_own_threshold(tmp_path) -> None:
    assert LABEL == "clicked" and LABEL_LIMIT == ("l_infinity", 0.1)
    # On by default, even without a validation section.
    bare = write_config(tmp_path, lambda raw: raw.pop("validation"), name="bare.yaml")
    assert load_config(bare).validation.label_limit(CONFIG.features) == ("l_infinity", 0.1)
    off = load_config(
        write_config(tmp_path, lambda raw: raw["validation"].update(label_drift=None))
    )
    assert off.validation.label_drift is None
    assert off.validation.label_limit(off.features) is None
    assert off.validation.drift_limits(off.features) == LIMITS
    assert CONFIG.validation.drift_limits(CONFIG.features) == {**LIMITS, LABEL: LABEL_LIMIT}
    custom = write_config(tmp_path, lambda raw: raw["validation"].update(label_drift=0.25))
    assert load_config(custom).validation.label_limit(CONFIG.features) == ("l_infinity", 0.25)
    bad = write_config(tmp_path, lambda raw: raw["validation"].update(label_drift=1.5))
    with pytest.raises(ConfigError, match=r"validation\.label_drift.*\(0, 1\]"):
        load_config(bad)


def test_a_float_label_drifts_by_jensen_shannon() -> None:
    assert label_is_class(CONFIG.features)
    assert label_measure(CONFIG.features) == "l_infinity"
    regression = dataclasses.replace(CONFIG.features, task="regression", num_classes=1)
    assert not label_is_class(regression)
    assert label_measure(regression) == "jensen_shannon"
    # The gate's side, on a float label: TFDV's Jensen-Shannon divergence of histograms.
    rng = np.random.default_rng(0)
    before = tfdv.generate_statistics_from_dataframe(pd.DataFrame({"y": rng.normal(0, 1, 1500)}))
    after = tfdv.generate_statistics_from_dataframe(pd.DataFrame({"y": rng.normal(2, 1, 1500)}))
    same = tfdv.generate_statistics_from_dataframe(pd.DataFrame({"y": rng.normal(0, 1, 1500)}))
    schema = comparator_schema(tfdv.infer_schema(before), {"y": ("jensen_shannon", 0.1)}, {})
    shifted = measure_distances(after, schema, before, None)[1]
    assert [(d.feature, d.measure, d.exceeded) for d in shifted] == [
        ("y", "Jensen-Shannon divergence", True)
    ]
    assert not any(d.exceeded for d in measure_distances(same, schema, before, None)[1])
    (finding,) = distance_findings(shifted, {"y": "jensen_shannon"}, (), label="y")
    assert finding.line().startswith(
        "label 'y': COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH - drift Jensen-Shannon divergence"
    )
    # A float label has no classes: never "comparable only with class counts".
    assert label_comparable(before, "y", classes=False)


def test_the_pipeline_counts_label_classes_so_l_infinity_measures_them() -> None:
    good, zeros = _day(1500, day=2), _all_zero(_day(1500, day=2))
    previous = _day(1500, day=1)
    # As StatisticsGen computes them by default (a histogram for the integer label),
    # TFDV's L-infinity distance is 0 even for an all-zero day (data-validation#147).
    plain = tfdv.generate_statistics_from_dataframe
    (blind,) = _label_distances(plain(zeros), plain(previous))
    assert blind.value == 0.0
    # With the pipeline's options the label has class counts, the rest is unchanged.
    counted = _class_stats(zeros)
    assert label_statistics(counted, LABEL).HasField("string_stats")
    assert label_statistics(counted, "price") == label_statistics(plain(zeros), "price")
    (shifted,) = _label_distances(counted, _class_stats(previous))
    assert shifted.measure == "L-infinity distance" and shifted.exceeded
    assert shifted.value == pytest.approx(previous[LABEL].mean(), abs=1e-6)
    # Ordinary days stay well within the limit.
    (ordinary,) = _label_distances(_class_stats(good), _class_stats(previous))
    assert ordinary.value < 0.05


def test_a_constant_label_day_blocks_naming_the_label() -> None:
    previous = _class_stats(_day(1500, day=1))
    distances = _label_distances(_class_stats(_all_zero(_day(1500, day=2))), previous)
    found = distance_findings(distances, {LABEL: "l_infinity"}, (), label=LABEL)
    (finding,) = found
    assert finding.blocking and finding.label and finding.kinds == ("COMPARATOR_L_INFTY_HIGH",)
    assert re.fullmatch(
        r"label 'clicked': COMPARATOR_L_INFTY_HIGH - drift L-infinity distance 0\.\d{4} is over "
        r"the label's threshold \(validation\.label_drift\) 0\.1000 \[train\]",
        finding.line(),
    ), finding.line()
    text = report(20760, found, distances, {"drift": "span 20759"}, label=LABEL)
    assert "has 1 blocking problem;" in text
    assert re.search(
        r"^  label 'clicked': drift L-infinity distance 0\.\d{4} > threshold", text, re.M
    )
    # warn_only can make it a warning, like any drift.
    (warning,) = distance_findings(
        distances, {LABEL: "l_infinity"}, ("COMPARATOR_L_INFTY_HIGH",), LABEL
    )
    assert not warning.blocking


def test_an_eval_split_with_one_class_blocks_with_a_sentence() -> None:
    finding = single_class_finding(_class_stats(_all_zero(_day(300))), LABEL, ())
    assert finding is not None and finding.blocking and finding.label
    assert finding.line() == (
        "label 'clicked': FEATURE_TYPE_LOW_UNIQUE - the eval split has a single label class: "
        "all 300 of its examples have clicked = 0, and a model cannot be evaluated on one "
        "class [eval]"
    )
    # Without class counts (statistics of an older pipeline) the same is read from min = max.
    plain = tfdv.generate_statistics_from_dataframe(_all_zero(_day(300)))
    assert single_class_finding(plain, LABEL, ()).description == finding.description
    assert single_class_finding(_class_stats(_day(300)), LABEL, ()) is None
    # No label at all is ExampleValidator's finding (missing column), not this one.
    assert single_class_finding(_class_stats(_day(300).drop(columns=[LABEL])), LABEL, ()) is None
    assert not single_class_finding(
        _class_stats(_all_zero(_day(300))), LABEL, ("FEATURE_TYPE_LOW_UNIQUE",)
    ).blocking


def test_label_anomalies_name_the_label() -> None:
    frame = _day()
    frame.loc[:5, LABEL] = 2
    found = findings({"train": _anomalies(frame)}, warn_only=(), label=LABEL)
    assert [f.line() for f in found] == [
        "label 'clicked': INT_TYPE_BIG_INT - Unexpectedly large value: 2. [train]"
    ]


def test_label_drift_is_skipped_against_statistics_without_class_counts() -> None:
    assert label_comparable(_class_stats(_day(300)), LABEL, classes=True)
    # Written before StatisticsGen counted classes: TFDV would find every class new.
    older = tfdv.generate_statistics_from_dataframe(_day(1500, day=1))
    assert not label_comparable(older, LABEL, classes=True)
    (mismatch,) = _label_distances(_class_stats(_day(1500, day=2)), older)
    assert mismatch.value > 0.5


def test_the_pipeline_wires_the_label_policy_and_class_counts() -> None:
    from pipeline import pipeline as topology

    components = {c.id: c for c in topology.create_pipeline(CONFIG).components}
    gate = components["DataGate"].exec_properties
    assert (gate["label"], gate["label_classes"]) == ("clicked", True)
    # The label's limit is one of the drift limits, the features' unchanged.
    drift = json.loads(gate["drift_thresholds"])
    assert drift == {**{k: list(v) for k, v in LIMITS.items()}, "clicked": ["l_infinity", 0.1]}
    options = tfdv.StatsOptions.from_json(
        components["StatisticsGen"].exec_properties["stats_options_json"]
    )
    assert [(f.name, f.int_domain.is_categorical) for f in options.schema.feature] == [
        ("clicked", True)
    ]


def test_sketched_statistics_measure_the_drift_exact_ones_measure(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # StatisticsGen sketches top values and distinct counts (pipeline.STATS_SKETCH).
    # TFDV's Beam path honours that (its in-memory path always sketches), so this
    # computes statistics as StatisticsGen does, both ways, on two bundled days.
    from pipeline import pipeline as topology

    sketched = topology.statistics_options(CONFIG)
    monkeypatch.setattr(topology, "STATS_SKETCH", False)
    exact = topology.statistics_options(CONFIG)
    assert sketched.use_sketch_based_topk_uniques and not exact.use_sketch_based_topk_uniques
    days = sorted((REPO / "data" / "clicks").iterdir())[:2]
    schema = comparator_schema(SCHEMA, LIMITS, {})

    def measured(options: tfdv.StatsOptions) -> dict[str, tuple[float, int]]:
        previous, current = (
            tfdv.generate_statistics_from_csv(str(day / "clicks.csv"), stats_options=options)
            for day in days
        )
        distances = measure_distances(current, schema, previous, None)[1]
        unique = {
            f.path.step[0]: f.string_stats.unique
            for f in current.datasets[0].features
            if f.HasField("string_stats")
        }
        return {d.feature: (d.value, unique.get(d.feature, 0)) for d in distances}

    with_sketch, without = measured(sketched), measured(exact)
    assert with_sketch.keys() == without.keys() == set(LIMITS)
    # Every compared string column has a closed domain (at most 1,024 distinct
    # values), where the sketches are exact: the same distances to the last bit.
    assert all(distinct <= 1024 for _, distinct in without.values())
    assert with_sketch == without
    assert any(distinct > 1 for _, distinct in without.values())
