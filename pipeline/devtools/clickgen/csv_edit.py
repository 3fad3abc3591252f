"""Byte-level edits of a generated CSV file, each written atomically.

Lines are handled as bytes split on commas, which is exact for generated files (no
value contains a comma or a quote) and survives earlier invalid UTF-8: the bad-input
injections (:mod:`pipeline.devtools.clickgen.injections`) build on these.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np


def write_atomically(path: Path, write: Callable[[Path], object]) -> None:
    """Writes via a hidden temp file and renames it into place.

    A reader (e.g. CsvExampleGen's ``*.csv`` glob) never sees a half-written file,
    and the temp name does not match that glob.

    Args:
        path: The file to (re)write.
        write: Writes the whole content to the path it is given (its result is
            ignored).
    """
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


RowEdit = Callable[[list[bytes], np.random.Generator], list[bytes]]
"""Edits one data row's fields (bytes), drawing any choice from the rng."""


def count_data_rows(path: Path) -> int:
    """Counts the lines after the header, in 1 MiB blocks (a day can be gigabytes).

    Args:
        path: A CSV file.

    Returns:
        The number of data rows.
    """
    count = 0
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            count += block.count(b"\n")
    return max(count - 1, 0)


def column_index(header: bytes, column: str) -> int:
    """The position of ``column`` in a header line.

    Args:
        header: The file's first line, as bytes.
        column: The column's name.

    Returns:
        Its zero-based index.

    Raises:
        ValueError: If the header has no such column.
    """
    names = header.rstrip(b"\r\n").split(b",")
    try:
        return names.index(column.encode())
    except ValueError:
        raise ValueError(f"injection needs column {column!r}, header has {names}") from None


def rewrite_rows(
    path: Path,
    rng: np.random.Generator,
    fraction: float,
    edit_row: RowEdit,
    edit_header: Callable[[list[bytes]], list[bytes]] | None = None,
) -> None:
    """Streams the file, editing a random ``fraction`` of data rows (at least one).

    Args:
        path: The CSV to rewrite in place.
        rng: Chooses the rows; passed on to ``edit_row``.
        fraction: Share of data rows to edit; 1 edits every row without drawing
            from ``rng``, 0 exactly one.
        edit_row: Edits one row's fields.
        edit_header: Edits the header's names, if given.
    """
    total = count_data_rows(path)
    selected = np.ones(total, dtype=bool)
    if fraction < 1.0 and total:
        selected[:] = False
        count = min(total, max(1, int(round(fraction * total))))
        selected[rng.choice(total, size=count, replace=False)] = True

    def write(target: Path) -> None:
        with open(path, "rb") as source, open(target, "wb") as sink:
            header = source.readline()
            if edit_header is not None and header:
                header = b",".join(edit_header(header.rstrip(b"\r\n").split(b","))) + b"\n"
            sink.write(header)
            for index, line in enumerate(source):
                if index < total and selected[index]:
                    fields = line.rstrip(b"\r\n").split(b",")
                    line = b",".join(edit_row(fields, rng)) + b"\n"
                sink.write(line)

    write_atomically(path, write)


def header_line(path: Path) -> bytes:
    """The file's first line, line ending included.

    Args:
        path: A CSV file.

    Returns:
        The header as bytes (empty for an empty file).
    """
    with open(path, "rb") as handle:
        return handle.readline()


def set_field(index: int, value: Callable[[bytes, np.random.Generator], bytes]) -> RowEdit:
    """A row edit replacing field ``index`` (rows too short to have it are left alone).

    Args:
        index: The field's position.
        value: The new field from the old one and the rng.

    Returns:
        The row edit.
    """

    def edit(fields: list[bytes], rng: np.random.Generator) -> list[bytes]:
        if index < len(fields):
            fields[index] = value(fields[index], rng)
        return fields

    return edit
