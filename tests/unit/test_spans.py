"""Span discovery agrees with CsvExampleGen's own matching, for date and {SPAN} layouts."""

from __future__ import annotations

import dataclasses
import datetime
import gzip
from pathlib import Path

import pytest
from tfx.components.example_gen import utils as example_gen_utils

from pipeline import spans
from pipeline.config import DEFAULT_CONFIG, PipelineConfig, load_config
from pipeline.devtools import clickgen


def _config(root: Path, pattern: str) -> PipelineConfig:
    config = load_config(DEFAULT_CONFIG)
    return dataclasses.replace(
        config, data=dataclasses.replace(config.data, input_base=root, span_pattern=pattern)
    )


def _touch(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("a,b\n1,2\n")


def _day(day: int) -> int:
    return example_gen_utils.date_to_span_number(2026, 11, day)


def test_date_spans_with_a_gap(tmp_path: Path) -> None:
    for day in (1, 2, 4):
        _touch(tmp_path / f"2026-11-0{day}" / "clicks.csv")
    config = _config(tmp_path, "{YYYY}-{MM}-{DD}/*.csv")
    span, pattern = spans.newest_span(config)
    assert span == _day(4)
    assert pattern == str(tmp_path / "2026-11-04" / "*.csv")
    assert spans.newest_spans(config, 3) == [_day(1), _day(2), _day(4)]
    assert spans.newest_spans(config, 2) == [_day(2), _day(4)]
    assert spans.newest_spans(config, 10) == [_day(1), _day(2), _day(4)]


def test_numbered_spans(tmp_path: Path) -> None:
    for number in (1, 3, 10):
        _touch(tmp_path / f"span-{number}" / "data.csv")
    config = _config(tmp_path, "span-{SPAN}/*.csv")
    assert spans.newest_span(config)[0] == 10
    assert spans.newest_spans(config, 2) == [3, 10]


def test_no_span_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(
        FileNotFoundError, match=r"no span matching '\{YYYY\}-\{MM\}-\{DD\}/\*\.csv'"
    ):
        spans.newest_span(_config(tmp_path, "{YYYY}-{MM}-{DD}/*.csv"))


def test_an_empty_newest_span_directory_stops_the_run(tmp_path: Path) -> None:
    config = _config(tmp_path, "{YYYY}-{MM}-{DD}/*.csv")
    clickgen.write_day(tmp_path, datetime.date(2026, 11, 1), rows=10, seed=1)
    (tmp_path / "2026-10-30").mkdir()  # an older empty directory is harmless
    assert spans.newest_span(config)[0] == 20758
    (tmp_path / "2026-11-02").mkdir()
    assert [span for span, _ in spans.empty_span_dirs(config)] == [20756, 20759]
    with pytest.raises(FileNotFoundError, match=r"2026-11-02 has no file matching '\*\.csv'"):
        spans.newest_span(config)


def _gzipped(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(b"a,b\n1,2\n"))


def test_gzipped_date_spans(tmp_path: Path) -> None:
    for day in (1, 2, 4):
        _gzipped(tmp_path / f"2026-11-0{day}" / "clicks.csv.gz")
    config = _config(tmp_path, "{YYYY}-{MM}-{DD}/*.csv.gz")
    assert spans.newest_span(config) == (_day(4), str(tmp_path / "2026-11-04" / "*.csv.gz"))
    assert spans.newest_spans(config, 3) == [_day(1), _day(2), _day(4)]
    (tmp_path / "2026-11-05").mkdir()
    assert [span for span, _ in spans.empty_span_dirs(config)] == [_day(5)]


def test_gzipped_spans_under_a_plain_pattern_name_the_pattern_to_use(tmp_path: Path) -> None:
    _gzipped(tmp_path / "2026-11-01" / "clicks.csv.gz")
    with pytest.raises(
        FileNotFoundError, match=r"data.span_pattern: \"\{YYYY\}-\{MM\}-\{DD\}/\*\.csv\.gz\""
    ):
        spans.newest_span(_config(tmp_path, "{YYYY}-{MM}-{DD}/*.csv"))
    # A gzipped newest day next to plain older days is not "missing" without a word.
    _touch(tmp_path / "2026-10-31" / "clicks.csv")
    with pytest.raises(FileNotFoundError, match=r"It holds .*2026-11-01/clicks\.csv\.gz"):
        spans.newest_span(_config(tmp_path, "{YYYY}-{MM}-{DD}/*.csv"))
