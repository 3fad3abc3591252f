"""The data gate's policy and report, on real TFDV anomalies."""

from __future__ import annotations

import pandas as pd
import tensorflow_data_validation as tfdv
from tensorflow_metadata.proto.v0 import anomalies_pb2

from components.data_gate import findings, report
from tests.conftest import REPO

SCHEMA = tfdv.load_schema_text(str(REPO / "schemas" / "clicks" / "schema.pbtxt"))


def _anomalies(frame: pd.DataFrame) -> anomalies_pb2.Anomalies:
    return tfdv.validate_statistics(tfdv.generate_statistics_from_dataframe(frame), SCHEMA)


def _day(rows: int = 200) -> pd.DataFrame:
    import datetime

    from pipeline import clickgen

    return clickgen.generate_day(datetime.date(2026, 11, 1), rows=rows, seed=5)


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
    assert text.startswith("Data gate: span 20758 has 2 blocking anomalies")
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
