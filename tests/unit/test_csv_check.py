"""pipeline.run.guards.csv_check names the file and line CsvExampleGen could not read."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

from pipeline.devtools import clickgen
from pipeline.run.guards import csv_check

DAY = datetime.date(2026, 11, 4)


def _day(tmp_path: Path, *inject: str) -> Path:
    return clickgen.write_day(tmp_path, DAY, rows=300, seed=3, inject=inject)


def test_a_clean_day_has_no_problem(tmp_path: Path) -> None:
    path = _day(tmp_path)
    assert csv_check.diagnose_file(path) is None
    assert csv_check.diagnose([str(tmp_path / "*" / "*.csv")]) is None


@pytest.mark.parametrize(
    ("injection", "expected"),
    [
        ("ragged_rows", "fields where the header has 14"),
        ("unterminated_quote", "a double quote opens a field that is never closed"),
        ("non_utf8", "are not valid UTF-8"),
        ("huge_line", "longer than the CSV reader's limit of 131072 bytes"),
        ("empty_file", "is empty"),
    ],
)
def test_unreadable_files_are_named_with_the_line(
    tmp_path: Path, injection: str, expected: str
) -> None:
    path = _day(tmp_path, injection)
    problem = csv_check.diagnose([str(tmp_path / "*" / "*.csv")])
    assert problem is not None and problem.startswith(str(path))
    assert expected in problem
    if injection != "empty_file":
        line = int(problem.split(" line ", 1)[1].split(":", 1)[0])
        assert 2 <= line <= 301
        # The named line really is the bad one.
        raw = path.read_bytes().split(b"\n")[line - 1]
        if injection == "non_utf8":
            assert b"\xff\xfe" in raw
        elif injection == "huge_line":
            assert len(raw) > csv_check.FIELD_LIMIT
        elif injection == "unterminated_quote":
            assert raw.count(b'"') % 2 == 1
        else:
            assert raw.count(b",") != 13


def test_header_only_is_readable(tmp_path: Path) -> None:
    # Readable, just empty: the data gate (not the CSV reader) rejects it.
    assert csv_check.diagnose_file(_day(tmp_path, "header_only")) is None
