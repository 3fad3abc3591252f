"""pipeline.run.guards.csv_check names the file and line CsvExampleGen could not read."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

from pipeline.devtools import clickgen
from pipeline.run.guards import csv_check
from tests.support.csv_dialects import rewrite

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


def test_the_pipelines_dialect_reads_cleanly(tmp_path: Path) -> None:
    # A byte-order mark is stripped as ExampleGen strips it; the delimiter and gzip
    # are the configured dialect's.
    source = _day(tmp_path)
    for name, delimiter, bom in [
        ("bom.csv", ",", True),
        ("semicolon.csv", ";", False),
        ("tab.csv.gz", "\t", True),
    ]:
        path = rewrite(source, tmp_path / "dialects" / name, delimiter, bom)
        assert csv_check.diagnose_file(path, delimiter) is None, name


def test_a_gzipped_ragged_file_is_named_with_the_line(tmp_path: Path) -> None:
    path = rewrite(_day(tmp_path, "ragged_rows"), tmp_path / "gz" / "clicks.csv.gz", ";")
    problem = csv_check.diagnose([str(tmp_path / "gz" / "*.csv.gz")], ";")
    assert problem is not None and problem.startswith(f"{path} line ")
    assert "fields where the header has 14" in problem


def test_a_corrupt_gzip_file_is_named(tmp_path: Path) -> None:
    # Named .gz, not gzipped (Beam decompresses by the extension).
    path = tmp_path / "clicks.csv.gz"
    path.write_bytes(b"a,b\n1,2\n")
    problem = csv_check.diagnose_file(path)
    assert problem is not None and problem.startswith(f"{path} cannot be decompressed")


def test_the_wrong_delimiter_names_the_one_to_configure(tmp_path: Path) -> None:
    path = rewrite(_day(tmp_path), tmp_path / "semi" / "clicks.csv", ";")
    problem = csv_check.diagnose_file(path, ",")
    assert problem is not None and problem.startswith(f"{path}: the header is a single column")
    assert 'set data.delimiter: ";"' in problem


@pytest.mark.parametrize(
    ("encoding", "expected"),
    [
        ("utf-16", "is UTF-16 encoded (it starts with a UTF-16 byte-order mark)"),
        ("latin-1", "line 1: bytes b'\\xe9"),
    ],
)
def test_a_file_not_in_utf8_is_refused_naming_it(
    tmp_path: Path, encoding: str, expected: str
) -> None:
    path = tmp_path / "people.csv"
    path.write_bytes("prénom,âge\nzoé,3\n".encode(encoding))
    problem = csv_check.diagnose_file(path)
    assert problem is not None and problem.startswith(str(path))
    assert expected in problem
    assert "UTF-8" in problem
