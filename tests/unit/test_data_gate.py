"""The data gate's policy and report, on real TFDV anomalies."""

from __future__ import annotations

import pandas as pd
import tensorflow_data_validation as tfdv
from tensorflow_metadata.proto.v0 import anomalies_pb2

from components.data_gate import (
    NO_DATA,
    REPORT_FILE,
    comparator_schema,
    distance_findings,
    findings,
    measure_distances,
    report,
)
from pipeline.config import DistanceThresholds, load_config
from pipeline.ops import summary
from tests.support.cli import REPO

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
