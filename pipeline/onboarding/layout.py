"""How a data folder is laid out in spans, and how its CSV files are delimited."""

from __future__ import annotations

import csv
import gzip
import re
from pathlib import Path

# The layouts ``init`` recognises, as (regex over a span's directory or file name,
# the span spec that replaces the matched part). Dates first: "2026-01-02" also
# ends in digits.
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_NUMBER = re.compile(r"\d+(?!.*\d)")
_EXTENSIONS = (".csv.gz", ".csv")
# Delimiters a CSV sniffer may choose between (the ones data.delimiter documents).
DELIMITERS = ",;\t|"


class LayoutError(ValueError):
    """The data folder has no span layout ``init`` recognises (the message says why)."""


def _extension(name: str) -> str | None:
    return next((ext for ext in _EXTENSIONS if name.endswith(ext)), None)


def _span_spec(names: list[str]) -> str | None:
    """Replaces the date or number that varies between span names by a span spec."""
    if all(_DATE.search(name) for name in names):
        return _DATE.sub("{YYYY}-{MM}-{DD}", names[0], count=1)
    specs = {_NUMBER.sub("{SPAN}", name) for name in names if _NUMBER.search(name)}
    if len(specs) == 1 and all(_NUMBER.search(name) for name in names):
        return specs.pop()
    return None


def detect_span_pattern(data_dir: Path) -> str:
    """Finds the span pattern of a data folder, relative to it.

    Recognised: one directory per span named by a date or a number
    (``2026-01-02/*.csv``, ``span-3/*.csv``), or one file per span named so
    (``clicks-2026-01-02.csv``, ``part-3.csv.gz``). Gzipped files keep ``.gz``.

    Args:
        data_dir: The folder holding the spans (``data.input_base``).

    Returns:
        A ``data.span_pattern`` such as ``"{YYYY}-{MM}-{DD}/*.csv"``.

    Raises:
        LayoutError: If there is no CSV file, or the span names have no date or number.
    """
    if not data_dir.is_dir():
        raise LayoutError(f"--data {data_dir} is not a directory")
    files = sorted(p for p in data_dir.rglob("*") if p.is_file() and _extension(p.name))
    if not files:
        raise LayoutError(
            f"{data_dir} holds no *.csv or *.csv.gz file; put each span's files in a folder "
            "named by its date (2026-01-02/) or number (span-1/)"
        )
    depth = {len(p.relative_to(data_dir).parts) for p in files}
    extensions = {_extension(p.name) for p in files}
    if depth == {2} and len(extensions) == 1:
        directories = sorted({p.parent.name for p in files})
        spec = _span_spec(directories)
        if spec is not None:
            return f"{spec}/*{extensions.pop()}"
    if depth == {1}:
        spec = _span_spec([p.name for p in files])
        if spec is not None:
            return spec
    raise LayoutError(
        f"{data_dir}: cannot tell the spans apart. Put each span's CSV files in one folder "
        "per span, named by its date (2026-01-02/data.csv) or number (span-1/data.csv), "
        "or name one file per span so (data-2026-01-02.csv); then set data.span_pattern "
        "accordingly (see docs/configuration.md)"
    )


def first_file(data_dir: Path, span_pattern: str) -> Path:
    """Returns the first file (in name order) the span pattern matches.

    Args:
        data_dir: ``data.input_base``.
        span_pattern: ``data.span_pattern``.

    Returns:
        A CSV file path.
    """
    glob = re.sub(r"\{[A-Z]+\}", "*", span_pattern)
    return sorted(data_dir.glob(glob))[0]


def sniff_delimiter(path: Path) -> str:
    """Guesses a CSV file's delimiter from its header and first lines.

    Args:
        path: A CSV file, gzipped or not.

    Returns:
        One of :data:`DELIMITERS`; ``,`` when the sample is not conclusive.
    """
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8-sig", newline="") as handle:
        sample = "".join(handle.readline() for _ in range(20))
    try:
        return csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:  # one column, or no consistent separator
        return ","
