"""CSV files to serialized tf.Examples with Arrow and tfx_bsl's C++ encoder, as CsvExampleGen.

TFX's CsvExampleGen parses every record with Python's ``csv`` module, infers each
column's type with tfx_bsl's ``csv_decoder.ColumnTypeInferrer`` over the whole split
and builds each ``tf.train.Example`` in Python (``_ParsedCsvToTfExample``): about
130 s for a million rows. Here the file is parsed by ``pyarrow.csv`` in blocks (a
streaming reader, so a large day is never held whole), every cell kept as the
UTF-8 text Python's ``csv`` would give, and the same contract is applied to whole
columns at once:

- **Types** are the ``ColumnTypeInferrer``'s: a column is INT if every non-empty cell
  is a Python ``int()`` within int64, else FLOAT if every one is a Python
  ``float()``, else STRING; a column with no non-empty cell is UNKNOWN. Arrow's own
  inference (bool, timestamp, date, null markers like ``NA``) is never used: cells
  are read as strings. The common spellings (``-12``, ``3.5``, ``1e-3``) are
  recognised by a regular expression that only accepts what both Python and
  Arrow's cast parse the same way; any other cell (``+5``, `` 7``, ``nan``,
  ``1_000``) is typed by the ``ColumnTypeInferrer`` itself and converted with
  Python's ``int``/``float``, exactly as CsvExampleGen does.
- **An empty cell** is a feature with no values of the column's type (``int64_list
  {}``); in an UNKNOWN column every feature is present with no kind, as
  CsvExampleGen writes ``tf.train.Feature()``.
- **Floats** are parsed as doubles and rounded to float32, as ``float(cell)`` stored
  in a ``FloatList``.
- **The split**: TFX's base executor buckets a record by the SHA-256 of
  ``Example.SerializeToString(deterministic=True)``, or of the bytes themselves
  when the record is already bytes. The C++ encoder writes the feature map in hash
  order, so each column is encoded alone and the rows' map entries are joined in
  key order (:func:`encode_block`): the bytes handed to TFX are the ones TFX hashes
  for its own Examples, and every row lands in the same split.
- **Errors** TFX's reader raises stay errors, naming the file: a row with another
  number of fields, a byte sequence that is not UTF-8, a field longer than Python
  ``csv``'s field limit, a quote that is never closed.
"""

from __future__ import annotations

import csv
import dataclasses
import io
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]
import pyarrow.csv as pa_csv  # type: ignore[import-untyped]
from tfx_bsl.coders import csv_decoder, example_coder
from tfx_bsl.coders.csv_decoder import ColumnType

# Bytes of CSV text per block: large enough that Arrow's per-block work is cheap,
# small enough that a block's strings and Examples stay a few hundred MB.
BLOCK_BYTES = 16 << 20
# Cells every parser agrees on: Python's int() (within int64: at most 18 digits)
# and Arrow's string-to-int64 cast; Python's float() and Arrow's string-to-double
# cast, with a point or an exponent (a longer run of digits is an int() out of
# int64, which makes the column bytes). Arrow takes no leading "+", no spaces, no
# "_" and fewer spellings of nan and inf: such cells go to Python.
STRICT_INT = r"^-?[0-9]{1,18}$"
STRICT_FLOAT = r"^-?([0-9]+\.[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$|^-?[0-9]+[eE][-+]?[0-9]+$"
# The Arrow type of each column type's values, as tfx_bsl's CSV decoder uses.
VALUE_TYPES = {
    ColumnType.INT: pa.int64(),
    ColumnType.FLOAT: pa.float32(),
    ColumnType.STRING: pa.large_binary(),
}
# Python's csv refuses a longer field ("field larger than field limit"), so TFX does.
FIELD_LIMIT_MESSAGE = "a field is longer than the CSV reader's limit of {limit} characters"


@dataclasses.dataclass(frozen=True)
class CsvDialect:
    """How a span's files are written.

    Attributes:
        column_names: The header's names (read by ``example_gen.read_header``).
        delimiter: The field separator.
    """

    column_names: tuple[str, ...]
    delimiter: str


def _read_options(dialect: CsvDialect) -> tuple[Any, Any, Any]:
    read = pa_csv.ReadOptions(
        column_names=list(dialect.column_names),
        # The header is one physical line, read and parsed by the caller (as TFX does).
        skip_rows=1,
        block_size=BLOCK_BYTES,
        use_threads=True,
    )
    parse = pa_csv.ParseOptions(
        delimiter=dialect.delimiter,
        quote_char='"',
        double_quote=True,
        escape_char=False,
        newlines_in_values=True,  # TFX joins lines until the quotes balance
        ignore_empty_lines=True,  # TFX skips blank lines (skip_blank_lines=True)
    )
    convert = pa_csv.ConvertOptions(
        # Every cell as the text Python's csv gives; the types are decided below.
        column_types={name: pa.string() for name in dialect.column_names},
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
        check_utf8=True,
    )
    return read, parse, convert


def read_blocks(handle: io.RawIOBase, path: str, dialect: CsvDialect) -> Iterator[pa.RecordBatch]:
    """Streams a CSV file's rows after the header as blocks of string columns.

    Args:
        handle: The file, opened for reading (decompressed).
        path: Its path, for error messages.
        dialect: The header and the delimiter.

    Yields:
        Record batches, one string column per header name, in file order.

    Raises:
        ValueError: One sentence naming the file when it cannot be read as TFX
            would read it (a ragged row, not UTF-8, a runaway field or quote).
    """
    read, parse, convert = _read_options(dialect)
    limit = csv.field_size_limit()
    try:
        reader = pa_csv.open_csv(handle, read, parse, convert)
    except pa.ArrowInvalid as error:
        if "Empty CSV file" in str(error) or "Could not skip initial" in str(error):
            return  # no header or no row: CsvExampleGen writes no example either
        raise _unreadable(path, dialect, error) from None
    while True:
        try:
            block = reader.read_next_batch()
        except StopIteration:
            return
        except pa.ArrowInvalid as error:
            raise _unreadable(path, dialect, error) from None
        for column in block.columns:
            if len(column) and pc.max(pc.utf8_length(column)).as_py() > limit:
                raise ValueError(
                    f"{path}: {FIELD_LIMIT_MESSAGE.format(limit=limit)} (a runaway line or an "
                    "unclosed double quote)"
                )
        yield block


def _unreadable(path: str, dialect: CsvDialect, error: pa.ArrowInvalid) -> ValueError:
    # Arrow's message quotes the offending row; one line of it is enough.
    message = str(error).splitlines()[0][:300]
    return ValueError(
        f"{path} cannot be read as CSV with delimiter {dialect.delimiter!r} and "
        f"{len(dialect.column_names)} header columns: {message}"
    )


def _non_empty(column: pa.Array) -> pa.Array:
    return pc.not_equal(pc.binary_length(column), 0)


def _python_type(cells: Sequence[str], name: str) -> ColumnType:
    # tfx_bsl's own inferrer on the cells no regular expression decided, as bytes
    # (CsvExampleGen's cells are bytes: int(b" 7") is 7, int("٣".encode()) fails).
    inferrer = csv_decoder.ColumnTypeInferrer([name], skip_blank_lines=True)
    accumulator = inferrer.create_accumulator()
    for cell in cells:
        accumulator = inferrer.add_input(accumulator, [cell.encode()])
        if accumulator[name] == ColumnType.STRING:
            break  # the top of the hierarchy: no cell can change it
    (info,) = inferrer.extract_output(accumulator)
    return ColumnType(info.type)


def column_type(column: pa.Array, name: str) -> ColumnType:
    """A block's column type as tfx_bsl's ``ColumnTypeInferrer`` infers it.

    Args:
        column: The block's cells (strings, ``""`` for an empty cell).
        name: The column's name.

    Returns:
        UNKNOWN (no non-empty cell), INT, FLOAT or STRING.
    """
    cells = pc.filter(column, _non_empty(column))
    if not len(cells):
        return ColumnType.UNKNOWN
    others = pc.filter(cells, pc.invert(pc.match_substring_regex(cells, STRICT_INT)))
    if not len(others):
        return ColumnType.INT
    found = ColumnType.INT
    odd = pc.filter(others, pc.invert(pc.match_substring_regex(others, STRICT_FLOAT)))
    if len(odd) < len(others):
        found = ColumnType.FLOAT
    if len(odd):
        # Mostly a text column, settled by its first cell; else each distinct cell.
        found = max(found, _python_type(odd.slice(0, 1).to_pylist(), name))
        if found != ColumnType.STRING:
            found = max(found, _python_type(pc.unique(odd).to_pylist(), name))
    return found


def merge_types(types: Sequence[Sequence[ColumnType]]) -> list[ColumnType]:
    """Merges per-block column types up the hierarchy, as the inferrer's combiner.

    Args:
        types: One list of column types per block or file (same column order).

    Returns:
        Each column's highest type; UNKNOWN for a column no block has a value in.
    """
    merged = [ColumnType.UNKNOWN] * (len(types[0]) if types else 0)
    for block in types:
        merged = [max(a, b) for a, b in zip(merged, block, strict=True)]
    return merged


def _values(cells: pa.Array, kind: ColumnType) -> pa.Array:
    # The non-empty cells as the column type's values, converted as CsvExampleGen
    # does (int(cell), float(cell) into a float32 list, the cell's bytes).
    if kind == ColumnType.STRING:
        return pc.cast(cells, pa.large_binary())
    strict = pc.match_substring_regex(cells, STRICT_INT)
    if kind == ColumnType.FLOAT:
        strict = pc.or_(strict, pc.match_substring_regex(cells, STRICT_FLOAT))
    if pc.all(strict).as_py() is not False:
        if kind == ColumnType.INT:
            return pc.cast(cells, pa.int64())
        return pc.cast(pc.cast(cells, pa.float64()), pa.float32())
    if kind == ColumnType.INT:
        return pa.array([int(cell.encode()) for cell in cells.to_pylist()], pa.int64())
    doubles = pa.array([float(cell.encode()) for cell in cells.to_pylist()], pa.float64())
    return pc.cast(doubles, pa.float32())


def feature_column(column: pa.Array, kind: ColumnType) -> pa.Array:
    """One column of a block as the list column tfx_bsl's encoder turns into features.

    Args:
        column: The block's cells (strings).
        kind: The column's type over the whole split.

    Returns:
        A ``large_list`` column: one value per non-empty cell, an empty list per
        empty cell; for an UNKNOWN column, nulls (a feature with no kind).
    """
    if kind == ColumnType.UNKNOWN:
        return pa.nulls(len(column), pa.large_list(pa.large_binary()))
    present = _non_empty(column)
    values = _values(pc.filter(column, present), kind)
    counts = present.to_numpy(zero_copy_only=False).astype(np.int64)
    offsets = pa.array(np.concatenate(([0], np.cumsum(counts))), pa.int64())
    return pa.LargeListArray.from_arrays(offsets, values.cast(VALUE_TYPES[kind]))


def _varint_lengths(values: np.ndarray) -> np.ndarray:
    # Bytes of each value's protobuf varint (7 bits a byte).
    lengths = np.ones(len(values), np.int64)
    for bits in (7, 14, 21, 28, 35):
        lengths += values >= (1 << bits)
    return lengths


def _gather(
    out: np.ndarray, data: np.ndarray, source: np.ndarray, target: np.ndarray, sizes: np.ndarray
) -> None:
    # out[target[i] : target[i] + sizes[i]] = data[source[i] : source[i] + sizes[i]] for all i.
    total = int(sizes.sum())
    if not total:
        return
    within = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    out[np.repeat(target, sizes) + within] = data[np.repeat(source, sizes) + within]


def _entries(
    column: pa.Array, name: str, encoder: example_coder.RecordBatchToExamplesEncoder
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    # Each row's one map entry, framed (``0x0A <varint size> {key, value}``), as
    # tfx_bsl encodes it: the one-feature Example is ``0x0A <varint size> <entry>``.
    records = pa.array(
        encoder.encode(pa.RecordBatch.from_arrays([column], [name])), pa.large_binary()
    )
    offsets = np.frombuffer(records.buffers()[1], np.int64)[: len(records) + 1]
    data = np.frombuffer(records.buffers()[2], np.uint8)
    starts = offsets[:-1]
    header = np.full(len(records), 2, np.int64)  # the tag and a one-byte length
    for extra in range(1, 5):  # a longer length: its bytes have the high bit set
        header += data[np.minimum(starts + extra, len(data) - 1)] >= 0x80
        if not (header > extra + 1).any():
            break
    return data, starts + header, offsets[1:] - starts - header


def encode_block(
    block: pa.RecordBatch,
    types: Sequence[ColumnType],
    encoder: example_coder.RecordBatchToExamplesEncoder,
) -> pa.Array:
    """Encodes a block's rows as deterministically serialized tf.Examples.

    tfx_bsl's encoder writes a row's feature map in hash order, which changes from
    row to row, but TFX's base executor splits by the SHA-256 of the record's
    deterministic serialization (the map's entries sorted by key). So each column is
    encoded alone by tfx_bsl and the rows' entries are concatenated in key order
    with numpy: the bytes ``Example.SerializeToString(deterministic=True)`` gives.

    Args:
        block: String columns in header order (from :func:`read_blocks`).
        types: Each column's type over the whole split.
        encoder: tfx_bsl's C++ encoder.

    Returns:
        A ``large_binary`` array of one serialized ``tf.train.Example`` per row.
    """
    # A repeated column name is one feature, the last column's, as in the dict
    # CsvExampleGen builds each Example from.
    columns = {
        name: feature_column(column, kind)
        for name, column, kind in zip(block.schema.names, block.columns, types, strict=True)
    }
    rows = block.num_rows
    parts = [_entries(columns[name], name, encoder) for name in sorted(columns, key=str.encode)]
    # The Example: ``0x0A <varint size> <Features>``, Features being its entries.
    body = np.sum([size for _data, _start, size in parts], axis=0, dtype=np.int64)
    body = body if parts else np.zeros(rows, np.int64)
    head = 1 + _varint_lengths(body)
    offsets = np.concatenate(([0], np.cumsum(head + body))).astype(np.int64)
    out = np.empty(int(offsets[-1]), np.uint8)
    starts = offsets[:-1]
    _write_varints(out, starts, 0x0A, body)
    cursor = starts + head
    for data, source, size in parts:
        _gather(out, data, source, cursor, size)
        cursor = cursor + size
    return pa.LargeBinaryArray.from_buffers(
        pa.large_binary(), rows, [None, pa.py_buffer(offsets), pa.py_buffer(out)]
    )


def _write_varints(out: np.ndarray, at: np.ndarray, tag: int, values: np.ndarray) -> None:
    # Writes ``tag`` then each value as a protobuf varint, at the given positions.
    out[at] = tag
    remaining = values.copy()
    position = at + 1
    more = np.ones(len(values), bool)
    while more.any():
        low = (remaining & 0x7F).astype(np.uint8)
        last = remaining < 0x80
        out[position[more]] = np.where(last, low, low | 0x80)[more]
        remaining = remaining >> 7
        position = position + 1
        more = more & ~last


def block_types(block: pa.RecordBatch) -> list[ColumnType]:
    """Each column's type in one block.

    Args:
        block: String columns (from :func:`read_blocks`).

    Returns:
        The block's column types, in column order.
    """
    return [column_type(c, n) for c, n in zip(block.columns, block.schema.names, strict=True)]
