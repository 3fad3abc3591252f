"""Pinpoints why CsvExampleGen could not read a span: which file, which line, what.

CsvExampleGen's errors come out of a Beam worker and name neither the file nor the
line ("Columns do not match specified csv headers", "'utf-8' codec can't decode
byte 0xff"). When ingestion fails, the runner re-reads the span's files with
Python's ``csv`` module under the same rules (tfx_bsl's CSV decoder is built on
it: UTF-8, RFC 4180 quoting, 128 KiB field limit) and the same dialect as the
pipeline's ExampleGen (``components/example_gen.py``: the configured delimiter, a
leading UTF-8 byte-order mark ignored, ``*.gz`` decompressed), and reports the first
offending line. It runs only after a failure, so a good day pays nothing for it.
"""

from __future__ import annotations

import codecs
import csv
import glob
import io
import zlib
from collections.abc import Iterable
from pathlib import Path

from components import example_gen

# Python's csv default, which Beam's CSV parsing inherits.
FIELD_LIMIT = csv.field_size_limit()
CHUNK_BYTES = 1 << 20
# Byte-order marks of encodings other than UTF-8 (UTF-32's begin with UTF-16's).
UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


def _decoded(path: Path, data: bytes) -> str:
    # The text ExampleGen reads; raises ValueError naming what is not UTF-8.
    if data.startswith(UTF16_BOMS):
        raise ValueError(
            f"{path} is UTF-16 encoded (it starts with a UTF-16 byte-order mark); the "
            "pipeline reads UTF-8 only: save the file as UTF-8 (with or without a BOM)"
        )
    # ExampleGen ignores a UTF-8 byte-order mark, so the header's first name is clean.
    data = data.removeprefix(codecs.BOM_UTF8)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise ValueError(
            f"{path} line {line}: bytes {data[error.start : error.end + 1]!r} are not valid "
            "UTF-8 (the file must be UTF-8 encoded)"
        ) from None


def diagnose_file(path: Path, delimiter: str = example_gen.DEFAULT_DELIMITER) -> str | None:
    """Returns the first problem that stops a CSV file from being ingested.

    Args:
        path: A CSV file with a header line (``*.gz`` is decompressed).
        delimiter: The configured field separator (``data.delimiter``).

    Returns:
        ``"<path> line N: <what is wrong>"``, or None if the file reads cleanly.
    """
    try:
        with example_gen.open_csv(str(path)) as handle:
            # In chunks: Beam's decompressing reader cannot read() to the end at once.
            data = b"".join(iter(lambda: handle.read(CHUNK_BYTES), b""))
    except (OSError, EOFError, zlib.error) as error:
        return (
            f"{path} cannot be decompressed ({error}): it is not a valid file of the "
            "compression its extension names"
        )
    if not data.strip():
        return f"{path} is empty: no header line and no rows"
    try:
        text = _decoded(path, data)
    except ValueError as error:
        return str(error)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    header: list[str] | None = None
    try:
        for row in reader:
            if header is None:
                header = row
                problem = example_gen.delimiter_problem(str(path), header, delimiter)
                if problem:
                    return problem
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


def diagnose(patterns: Iterable[str], delimiter: str = example_gen.DEFAULT_DELIMITER) -> str | None:
    """Returns the first problem in the files matching any of the glob patterns.

    Args:
        patterns: File globs (a span's resolved split patterns).
        delimiter: The configured field separator (``data.delimiter``).

    Returns:
        One sentence naming the file, the line and the problem, or None.
    """
    for pattern in patterns:
        for name in sorted(glob.glob(pattern)):
            problem = diagnose_file(Path(name), delimiter)
            if problem:
                return problem
    return None
