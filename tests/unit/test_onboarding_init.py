"""``init``: span layout, delimiter, the task and each column's role, the written config."""

from __future__ import annotations

import functools
import gzip
import tempfile
from pathlib import Path

import pytest
import tensorflow_data_validation as tfdv
from tensorflow_metadata.proto.v0 import statistics_pb2

from pipeline.config import load_config
from pipeline.onboarding import decisions, init, layout, schema, statistics
from tests.support.onboarding import write_blank_spans

_Stats = statistics_pb2.FeatureNameStatistics
_SCRATCH = tempfile.TemporaryDirectory(prefix="onboarding-init-")
ROOT = Path(_SCRATCH.name)


def _touch(path: Path, text: str = "a,b\n1,2\n") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.name.endswith(".gz"):
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text, encoding="utf-8")


# --- layout --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("files", "pattern"),
    [
        (["2026-01-01/a.csv", "2026-01-02/a.csv"], "{YYYY}-{MM}-{DD}/*.csv"),
        (["2026-01-01/a.csv.gz", "2026-01-02/b.csv.gz"], "{YYYY}-{MM}-{DD}/*.csv.gz"),
        (["span-1/a.csv", "span-2/a.csv"], "span-{SPAN}/*.csv"),
        (["sales-2026-01-01.csv", "sales-2026-01-02.csv"], "sales-{YYYY}-{MM}-{DD}.csv"),
        (["part-1.csv.gz", "part-12.csv.gz"], "part-{SPAN}.csv.gz"),
    ],
)
def test_span_pattern_is_detected(tmp_path: Path, files: list[str], pattern: str) -> None:
    for name in files:
        _touch(tmp_path / name)
    assert layout.detect_span_pattern(tmp_path) == pattern


def test_folder_without_csv_files_is_refused(tmp_path: Path) -> None:
    _touch(tmp_path / "readme.txt")
    with pytest.raises(layout.LayoutError, match=r"holds no \*\.csv or \*\.csv\.gz file"):
        layout.detect_span_pattern(tmp_path)


def test_spans_without_date_or_number_are_refused(tmp_path: Path) -> None:
    _touch(tmp_path / "monday" / "a.csv")
    _touch(tmp_path / "tuesday" / "a.csv")
    with pytest.raises(layout.LayoutError, match="cannot tell the spans apart"):
        layout.detect_span_pattern(tmp_path)


@pytest.mark.parametrize(
    ("name", "text", "delimiter"),
    [
        ("a.csv", "a;b;c\n1;2;3\n4;5;6\n", ";"),
        ("a.csv.gz", "\ufeffa\tb\n1\t2\n", "\t"),
        ("a.csv", "a,b\n1,2\n", ","),
        ("a.csv", "only\n1\n", ","),
    ],
)
def test_delimiter_is_sniffed(tmp_path: Path, name: str, text: str, delimiter: str) -> None:
    _touch(tmp_path / name, text)
    assert layout.sniff_delimiter(tmp_path / name) == delimiter


def test_dataset_name_comes_from_the_folder() -> None:
    assert init.dataset_name(Path("/x/Breast Cancer-2")) == "breast_cancer_2"


# --- the task ------------------------------------------------------------------------------


def _numeric(kind: int, low: float, high: float) -> _Stats:
    feature = _Stats(type=kind)
    feature.num_stats.min, feature.num_stats.max = low, high
    return feature


def test_task_detected_from_the_label() -> None:
    binary = decisions.detect_task("y", _numeric(_Stats.INT, 0, 1), 2, None)
    assert binary[:2] == ("binary", 2)
    multiclass = decisions.detect_task("y", _numeric(_Stats.INT, 0, 4), 5, None)
    assert multiclass[:2] == ("multiclass", 5)
    assert "classes 0..4" in multiclass[2]


def test_float_label_is_regression() -> None:
    label = _numeric(_Stats.FLOAT, 25.0, 346.0)
    assert decisions.detect_task("y", label, None, None) == (
        "regression",
        1,
        "detected: FLOAT label, many values, range 25..346",
    )


def test_task_given_overrides_detection() -> None:
    chosen = decisions.detect_task("y", _numeric(_Stats.INT, 0, 2), 3, "multiclass")
    assert chosen == ("multiclass", 3, "given by --task, classes 0..2")


@pytest.mark.parametrize(
    ("feature", "distinct", "task", "message"),
    [
        (None, None, None, "is not a column of the data"),
        (_Stats(type=_Stats.STRING), 2, None, "holds strings"),
        (_numeric(_Stats.INT, 1, 2), 2, None, "a binary label is 0 or 1"),
        (_numeric(_Stats.INT, -1, 3), 5, None, "not integer class ids"),
        (_numeric(_Stats.FLOAT, 0, 1), None, "binary", "not integer class ids"),
    ],
)
def test_unusable_labels_are_refused(
    feature: _Stats | None, distinct: int | None, task: str | None, message: str
) -> None:
    with pytest.raises(decisions.DecisionError, match=message):
        decisions.detect_task("y", feature, distinct, task)


# --- init on generated spans with blanks ---------------------------------------------------


@functools.cache
def _initialised() -> init.InitResult:
    data = ROOT / "shop_orders"
    write_blank_spans(data, days=2)
    return init.init(data, "label", out=ROOT / "conf" / "shop.yaml")


def test_each_column_gets_a_role_and_a_reason() -> None:
    roles = {column.name: column.role for column in _initialised().decisions.columns}
    assert roles == {
        "label": "label",
        "row_id": "ignored",  # near-unique strings
        "amount": "numeric",  # floats, with blanks
        "visits": "numeric",  # ~60 integer values
        "device": "categorical",
        "plan": "categorical",
        "city": "categorical",  # open: more values than max_domain_values
        "note": "ignored",  # blank in every row
        "rating": "categorical",  # 5 integer codes
    }
    reasons = {column.name: column.reason for column in _initialised().decisions.columns}
    assert reasons["row_id"].startswith("ID-like: 600 distinct of 600 values")
    assert reasons["note"] == "blank in every row"
    assert reasons["label"].startswith("binary: detected")


def test_written_config_loads_and_matches_the_decisions() -> None:
    result = _initialised()
    config = load_config(result.config_file)
    assert config.pipeline_name == config.model_name == "shop_orders"
    assert config.data.span_pattern == "{YYYY}-{MM}-{DD}/*.csv"
    assert config.data.input_base == ROOT / "shop_orders"
    assert config.schema_file == ROOT / "conf" / "schemas" / "shop_orders" / "schema.pbtxt"
    features = config.features
    assert (features.label, features.task, features.num_classes) == ("label", "binary", 2)
    assert set(features.numeric) == {"amount", "visits"}
    assert set(features.categorical) == {"device", "plan", "city", "rating"}
    assert set(features.ignored) == {"row_id", "note"}
    assert features.bucketized == ()
    assert config.validation.open_domains == ("city",)
    assert config.evaluation.gate_metric == "AUC"


def test_written_schema_validates_the_window_it_came_from() -> None:
    result = _initialised()
    config = load_config(result.config_file)
    written = schema.read_schema(result.schema_file)
    assert written is not None
    assert "city" not in {domain.name for domain in written.string_domain}
    # As StatisticsGen computes them: the label's classes counted.
    with statistics.decoded_window(config) as window:
        stats = window.statistics(statistics.pipeline_stats_options(config))
    assert not tfdv.validate_statistics(stats, written).anomaly_info


def test_init_refuses_to_overwrite_a_config(tmp_path: Path) -> None:
    (tmp_path / "x.yaml").write_text("keep me", encoding="utf-8")
    with pytest.raises(FileExistsError, match="exists"):
        init.init(tmp_path, "label", out=tmp_path / "x.yaml")
    assert (tmp_path / "x.yaml").read_text(encoding="utf-8") == "keep me"


def test_float_label_writes_a_regression_config_gated_below_the_label_variance(
    tmp_path: Path,
) -> None:
    from tests.support.datasets import diabetes

    diabetes(tmp_path / "diabetes")
    result = init.init(tmp_path / "diabetes", "target", out=tmp_path / "d.yaml")
    config = load_config(result.config_file)
    assert config.features.task == "regression"
    assert set(config.features.numeric) == {
        "age",
        "sex",
        "bmi",
        "bp",
        "s1",
        "s2",
        "s3",
        "s4",
        "s5",
        "s6",
    }
    assert config.evaluation.gate_metric == "MeanSquaredError"
    # Predicting the mean scores the label's variance: the ceiling is just that.
    assert config.evaluation.upper_bound == pytest.approx(5930, rel=0.05)


def test_a_column_tensorflow_cannot_name_is_left_out_with_a_sentence() -> None:
    stats = statistics_pb2.DatasetFeatureStatisticsList()
    dataset = stats.datasets.add(num_examples=4)
    for name, kind in (("y", _Stats.INT), ("mean radius", _Stats.FLOAT), ("ok", _Stats.FLOAT)):
        feature = dataset.features.add(type=kind)
        feature.path.step.append(name)
        feature.num_stats.common_stats.tot_num_values = 4
        feature.num_stats.max = 1
    chosen = decisions.decide(stats, None, "y", "binary")
    assert chosen.names("skipped") == ["mean radius"]
    assert chosen.names("numeric") == ["ok"]
    assert "rename the CSV column" in chosen.columns[1].reason


def test_a_ragged_csv_is_named_with_its_line(tmp_path: Path) -> None:
    _touch(tmp_path / "data" / "2026-01-01" / "a.csv", "a,b,y\n1,2,0\n3,4\n5,6,1\n")
    with pytest.raises(statistics.SpanReadError) as info:
        init.init(tmp_path / "data", "y", out=tmp_path / "x.yaml")
    assert "a.csv line 3: 2 fields where the header has 3" in str(info.value)
    assert not (tmp_path / "x.yaml").exists()
