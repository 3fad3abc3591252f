"""Pinpoints why CsvExampleGen could not read a span: which file, which line, what.

CsvExampleGen's errors come out of a Beam worker and name neither the file nor the
line ("Columns do not match specified csv headers", "'utf-8' codec can't decode
byte 0xff"). When ingestion fails, the runner re-reads the span's files with
Python's ``csv`` module under the same rules (tfx_bsl's CSV decoder is built on
it: UTF-8, RFC 4180 quoting, 128 KiB field limit) and reports the first offending
line. It runs only after a failure, so a good day pays nothing for it.
"""

from __future__ import annotations

import csv
import glob
import io
from collections.abc import Iterable
from pathlib import Path

# Python's csv default, which Beam's CSV parsing inherits.
FIELD_LIMIT = csv.field_size_limit()


def diagnose_file(path: Path) -> str | None:
    """Returns the first problem that stops a CSV file from being ingested.

    Args:
        path: A CSV file with a header line.

    Returns:
        ``"<path> line N: <what is wrong>"``, or None if the file reads cleanly.
    """
    data = Path(path).read_bytes()
    if not data.strip():
        return f"{path} is empty: no header line and no rows"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        return (
            f"{path} line {line}: bytes {data[error.start : error.end + 1]!r} are not valid "
            "UTF-8 (the file must be UTF-8 encoded)"
        )
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header: list[str] | None = None
    try:
        for row in reader:
            if header is None:
                header = row
                continue
            if row and len(row) != len(header):
                return (
                    f"{path} line {reader.line_num}: {len(row)} fields where the header has "
                    f"{len(header)} (a ragged row: a missing or extra separator)"
                )
    except csv.Error as error:
        message = str(error)
        if "field larger than field limit" in message:
            return (
                f"{path} line {reader.line_num}: a field is longer than the CSV reader's "
                f"limit of {FIELD_LIMIT} bytes (a runaway line)"
            )
        if "EOF" in message or "unexpected end of data" in message:
            return (
                f"{path} line {_unbalanced_quote_line(text)}: a double quote opens a field "
                "that is never closed, so the rest of the file would be read as one field"
            )
        return f"{path} line {reader.line_num}: {message}"
    return None


def _unbalanced_quote_line(text: str) -> int:
    # The line where the quote count first goes odd and stays odd.
    open_quote = False
    start = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if line.count('"') % 2:
            if not open_quote:
                start = number
            open_quote = not open_quote
    return start or 1


def diagnose(patterns: Iterable[str]) -> str | None:
    """Returns the first problem in the files matching any of the glob patterns.

    Args:
        patterns: File globs (a span's resolved split patterns).

    Returns:
        One sentence naming the file, the line and the problem, or None.
    """
    for pattern in patterns:
        for name in sorted(glob.glob(pattern)):
            problem = diagnose_file(Path(name))
            if problem:
                return problem
    return None
