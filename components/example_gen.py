"""CsvExampleGen for the CSV dialects of real files: a delimiter, a byte-order mark, gzip.

TFX 1.16's CsvExampleGen executor hard-codes a comma (``ParseCSVLine(delimiter=',')``),
reads the header with ``tf.io.gfile`` and ``str.split(',')``, and iterates over the
opened file. So a semicolon- or tab-separated file is one column; a UTF-8 byte-order
mark (Excel's "CSV UTF-8") becomes part of the first column's name, which then shows
up as a "new column" whose name starts with an invisible character; and a gzipped span
fails (its header is read as compressed bytes, and Beam's decompressing reader has no
line iterator).

This executor plugs into TFX's extension point for file-based ExampleGens
(``BaseExampleGenExecutor.GetInputSourceToExamplePTransform``) and changes only
that: the header is read through Beam's file system (compression by extension, like
the rows) as UTF-8 with an optional byte-order mark and split with the configured
delimiter, and the rows are parsed with that delimiter.

The rows are read by one of two paths with the same output (the module switch
:data:`ARROW_READER`):

- **Arrow** (the default, :func:`csv_to_example_arrow`): ``pyarrow.csv`` streams each
  file in blocks and tfx_bsl's C++ ``RecordBatchToExamplesEncoder`` writes the
  Examples, with CsvExampleGen's column types, empty cells and split
  (``components/arrow_csv.py``); no Python runs per row before TFX's own split and
  write.
- **Row by row** (:func:`csv_to_example`): TFX's and tfx_bsl's own code, the
  quoted-newline record assembly, ``csv_decoder.ParseCSVLine``,
  ``csv_decoder.ColumnTypeInferrer`` and the cell-to-Feature conversion.

The Arrow path also writes the splits itself (:class:`WriteCsvFileSplits`, the module
switch :data:`DIRECT_WRITE`): TFX's base executor hands every record to Beam one at a
time, to hash it into a split, reshuffle it and write it, which was four fifths of a
1M-row day's ExampleGen. Each file's rows are hashed into TFX's splits by TFX's rule
(:func:`hash_split_indices`), put in a seeded random order and written as gzipped
TFRecords, one file per input file and split, under TFX's names. The row-by-row
path keeps TFX's own split and write. Either way the driver (span, version, input
fingerprint) is CsvExampleGen's ``FileBasedDriver``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, BinaryIO

import apache_beam as beam
import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]
import tensorflow as tf
from apache_beam.io.filesystems import FileSystems
from google.protobuf import struct_pb2
from tfx import types
from tfx.components.example_gen import utils as example_gen_utils
from tfx.components.example_gen import write_split
from tfx.components.example_gen.base_example_gen_executor import BaseExampleGenExecutor
from tfx.components.example_gen.component import FileBasedExampleGen
from tfx.components.example_gen.csv_example_gen import executor as tfx_csv_executor
from tfx.components.util import examples_utils
from tfx.dsl.components.base import executor_spec
from tfx.dsl.io import fileio
from tfx.proto import example_gen_pb2, range_config_pb2
from tfx.types import artifact_utils, standard_artifacts, standard_component_specs
from tfx.utils import proto_utils
from tfx_bsl.coders import csv_decoder, example_coder

from components import arrow_csv

# TFX's own CSV pieces, reused so that records are assembled (quoted newlines) and
# cells converted (an empty cell: a typed feature with no values) exactly as
# CsvExampleGen does. They are private names of TFX's csv_example_gen executor, which
# has no public API for them, so they are taken in this one place only;
# tests/unit/test_example_gen.py compares this executor's output with TFX's executor's.
CsvLineBuffer = tfx_csv_executor._CsvLineBuffer
ParsedCsvToTfExample = tfx_csv_executor._ParsedCsvToTfExample

DEFAULT_DELIMITER = ","
# The key in the ExampleGen's custom_config (a Struct), so it is in the cache key.
DELIMITER_KEY = "delimiter"
# The header's encoding: UTF-8, a leading byte-order mark dropped (the rows' is
# UTF-8 too; a mark can only be at the start of the file).
HEADER_ENCODING = "utf-8-sig"
# Separators a one-column header is checked for (a file read with the wrong one).
LIKELY_DELIMITERS = (",", ";", "\t", "|")
# TFX's names for a split's records: Split-<name>/data_tfrecord-<shard>-of-<n>.gz.
RECORDS_PREFIX = "data_tfrecord"
RECORDS_SUFFIX = ".gz"
# The seed of each file's row order (with the file's index), so a rerun writes the
# same bytes.
SHUFFLE_SEED = 18
# Rows handed to the TFRecord writer per Arrow-to-Python conversion.
WRITE_BATCH = 65536


def custom_config(delimiter: str) -> example_gen_pb2.CustomConfig:
    """The ExampleGen ``custom_config`` exec property that carries the dialect.

    Exec properties are TFX's cache key, so a changed delimiter re-ingests the span.

    Args:
        delimiter: The one-character field separator.

    Returns:
        A ``CustomConfig`` whose ``custom_config`` is a packed ``Struct``
        ``{"delimiter": <delimiter>}``.
    """
    config = example_gen_pb2.CustomConfig()
    config.custom_config.Pack(
        struct_pb2.Struct(fields={DELIMITER_KEY: struct_pb2.Value(string_value=delimiter)})
    )
    return config


def delimiter_of(exec_properties: Mapping[str, Any]) -> str:
    """The delimiter an ExampleGen execution was configured with.

    Args:
        exec_properties: The execution's properties; ``custom_config`` is the JSON
            of a :func:`custom_config` proto (as TFX passes it), or absent.

    Returns:
        The delimiter, or ``,`` when none was configured (TFX's CsvExampleGen).
    """
    raw = exec_properties.get(standard_component_specs.CUSTOM_CONFIG_KEY)
    if not raw:
        return DEFAULT_DELIMITER
    config = example_gen_pb2.CustomConfig()
    proto_utils.json_to_proto(raw, config)
    fields = struct_pb2.Struct()
    if not config.custom_config.Unpack(fields) or DELIMITER_KEY not in fields.fields:
        return DEFAULT_DELIMITER
    return str(fields.fields[DELIMITER_KEY].string_value)


def open_csv(path: str) -> BinaryIO:
    """Opens a span file for reading, decompressing by extension (``.gz``, ``.bz2`` ...).

    Args:
        path: The file's path or URI.

    Returns:
        The binary reader (``readline`` works; a compressed file cannot be iterated).
    """
    return FileSystems.open(path)


class BlockReader(io.RawIOBase):
    """A file opened by :func:`open_csv` as the readable stream ``pyarrow.csv`` needs.

    Beam's decompressing ``CompressedFile`` has ``closed`` as a method, not a
    property, so Arrow takes it for closed; this reads through it and owns it.

    It also counts the double quotes after the header line. TFX joins physical
    lines until a record's quotes balance and fails on a file whose last record
    never balances, which happens exactly when that count is odd; Arrow instead
    reads an unclosed quote to the end of the file as one field, so the caller
    checks :attr:`quotes_after_header` once the file is read.
    """

    def __init__(self, path: str):
        """Opens the file.

        Args:
            path: The file's path or URI (decompressed by extension).
        """
        super().__init__()
        self.path = path
        self._handle = open_csv(path)
        self._in_header = True
        self.quotes_after_header = 0

    def readable(self) -> bool:
        """Returns True: the stream is for reading.

        Returns:
            True.
        """
        return True

    def readinto(self, buffer: Any) -> int:
        """Reads up to ``len(buffer)`` bytes into ``buffer``.

        Args:
            buffer: A writable buffer.

        Returns:
            The number of bytes read; 0 at the end of the file.
        """
        data = self._handle.read(len(buffer))
        buffer[: len(data)] = data
        start = 0
        if self._in_header:
            start = data.find(b"\n") + 1
            self._in_header = start == 0
            if self._in_header:
                return len(data)
        self.quotes_after_header += data.count(b'"', start)
        return len(data)

    def check_quotes(self) -> None:
        """Fails as TFX's CsvExampleGen does on a quote that is never closed.

        Raises:
            ValueError: If the rows hold an odd number of double quotes, naming the file.
        """
        if self.quotes_after_header % 2:
            raise ValueError(
                f"{self.path}: a double quote opens a field that is never closed "
                "(Csv record had unbalanced quotes)"
            )

    def close(self) -> None:
        """Closes the underlying file."""
        if not self.closed:
            self._handle.close()
        super().close()


def read_header(path: str, delimiter: str = DEFAULT_DELIMITER) -> list[str]:
    """Reads a CSV file's column names, as the executor will.

    Args:
        path: The CSV file (``*.gz`` and other extensions Beam knows are decompressed).
        delimiter: The field separator.

    Returns:
        The header's column names, a leading UTF-8 byte-order mark removed; ``[""]``
        for an empty file (as TFX's CsvExampleGen reads it).

    Raises:
        ValueError: If the header line is not UTF-8, naming the file.
    """
    with open_csv(path) as handle:
        raw = handle.readline()
    try:
        line = raw.decode(HEADER_ENCODING)
    except UnicodeDecodeError as error:
        raise ValueError(
            f"{path}: the header line is not UTF-8 (bytes {raw[error.start : error.end]!r}); "
            "save the file as UTF-8"
        ) from None
    # Python's csv (tfx_bsl's decoder is built on it), so a quoted column name is unquoted.
    row = next(csv.reader([line.rstrip("\r\n")], delimiter=delimiter), [])
    return row or [""]


def delimiter_problem(path: str, header: list[str], delimiter: str) -> str | None:
    """Says so when a file's header shows it is separated by another delimiter.

    With the wrong delimiter the whole header is one column, and every row one
    string: the data gate would report every feature missing, not the cause.

    Args:
        path: The file, for the message.
        header: Its column names read with ``delimiter``.
        delimiter: The configured ``data.delimiter``.

    Returns:
        One sentence naming the file and the delimiter to configure, or None.
    """
    if len(header) != 1:
        return None
    found = [other for other in LIKELY_DELIMITERS if other != delimiter and other in header[0]]
    if not found:
        return None
    return (
        f"{path}: the header is a single column {header[0][:80]!r} containing "
        f"{json.dumps(found[0])}, so the file is not separated by data.delimiter "
        f"{json.dumps(delimiter)}; set data.delimiter: {json.dumps(found[0])} in the config"
    )


def split_files(
    exec_properties: Mapping[str, Any], split_pattern: str
) -> tuple[list[str], list[str], str]:
    """An input split's files, their common header and the delimiter, checked.

    Args:
        exec_properties: The ExampleGen's exec properties (``input_base``,
            ``custom_config`` with the delimiter).
        split_pattern: The split's file glob, relative to ``input_base``.

    Returns:
        The matching files, the header's column names and the delimiter.

    Raises:
        RuntimeError: If no file matches, or the files' headers differ.
        ValueError: If the header shows the file uses another delimiter.
    """
    delimiter = delimiter_of(exec_properties)
    pattern = os.path.join(exec_properties[standard_component_specs.INPUT_BASE_KEY], split_pattern)
    files = fileio.glob(pattern)
    if not files:
        raise RuntimeError(f"Split pattern {pattern} does not match any files.")
    column_names = read_header(files[0], delimiter)
    problem = delimiter_problem(files[0], column_names, delimiter)
    if problem:
        raise ValueError(problem)
    for other in files[1:]:
        if read_header(other, delimiter) != column_names:
            raise RuntimeError(
                f"Files in same split {pattern} have different headers: {files[0]} and {other}."
            )
    return files, column_names, delimiter


def _records(handle: BinaryIO) -> Iterator[bytes]:
    # The data lines after the header; readline because Beam's CompressedFile has no
    # line iterator.
    handle.readline()
    return iter(handle.readline, b"")


@beam.typehints.with_input_types(str)
@beam.typehints.with_output_types(str)
class ReadCsvRecords(beam.DoFn):
    """Yields a CSV file's records after the header, quoted newlines joined.

    TFX's ``_ReadCsvRecordsFromTextFile`` with the same line buffer, for compressed
    files too (it iterates over the opened file, which Beam's CompressedFile cannot do).
    """

    def process(self, csv_filepath: str) -> Iterable[str]:
        """Reads one file.

        Args:
            csv_filepath: The file's path.

        Yields:
            One CSV record (one or more physical lines) at a time.

        Raises:
            ValueError: If the file ends inside a quoted field.
        """
        with open_csv(csv_filepath) as handle:
            buffer = CsvLineBuffer()
            for line in _records(handle):
                buffer.write(line.decode("utf-8"))
                if buffer.is_complete_line():
                    yield buffer.read()
            if not buffer.is_empty():
                raise ValueError(f"Csv record had unbalanced quotes. File: {csv_filepath}")


@beam.ptransform_fn
@beam.typehints.with_input_types(beam.Pipeline)
@beam.typehints.with_output_types(tf.train.Example)
def csv_to_example(
    pipeline: beam.Pipeline, exec_properties: dict[str, Any], split_pattern: str
) -> beam.PCollection:
    """Reads one input split's CSV files into tf.Examples, as TFX's ``_CsvToExample``.

    Args:
        pipeline: The Beam pipeline.
        exec_properties: The ExampleGen's exec properties (``input_base``,
            ``custom_config`` with the delimiter).
        split_pattern: The split's file glob, relative to ``input_base``.

    Returns:
        The split's examples.

    Raises:
        RuntimeError: If no file matches, or the files' headers differ.
    """
    files, column_names, delimiter = split_files(exec_properties, split_pattern)
    parsed = (
        pipeline
        | "CreateFilenames" >> beam.Create(files)
        | "ReadFromText" >> beam.ParDo(ReadCsvRecords())
        | "ParseCSVLine" >> beam.ParDo(csv_decoder.ParseCSVLine(delimiter=delimiter))
        | "ExtractParsedCSVLines" >> beam.Keys()
    )
    column_infos = beam.pvalue.AsSingleton(
        parsed
        | "InferColumnTypes"
        >> beam.CombineGlobally(csv_decoder.ColumnTypeInferrer(column_names, skip_blank_lines=True))
    )
    return parsed | "ToTFExample" >> beam.ParDo(ParsedCsvToTfExample(), column_infos)


# -- The Arrow reader (the default): no Python per row -------------------------------


@beam.typehints.with_input_types(str)
@beam.typehints.with_output_types(list[csv_decoder.ColumnType])
class InferCsvFileTypes(beam.DoFn):
    """One file's column types, as tfx_bsl's ``ColumnTypeInferrer`` infers them.

    The first of two streaming passes over the file: the types are the whole
    split's, so no Example can be encoded before every file has been read.
    """

    def __init__(self, column_names: list[str], delimiter: str):
        """Keeps the dialect.

        Args:
            column_names: The split's header.
            delimiter: The field separator.
        """
        self._dialect = arrow_csv.CsvDialect(tuple(column_names), delimiter)

    def process(self, csv_filepath: str) -> Iterable[list[csv_decoder.ColumnType]]:
        """Reads one file's blocks.

        Args:
            csv_filepath: The file's path.

        Yields:
            The file's column types (UNKNOWN for a column it has no value in).
        """
        with BlockReader(csv_filepath) as handle:
            blocks = arrow_csv.read_blocks(handle, csv_filepath, self._dialect)
            found = [arrow_csv.block_types(block) for block in blocks]
            handle.check_quotes()
        yield arrow_csv.merge_types(found) or [csv_decoder.ColumnType.UNKNOWN] * len(
            self._dialect.column_names
        )


@beam.typehints.with_input_types(str, list[csv_decoder.ColumnType])
@beam.typehints.with_output_types(bytes)
class EncodeCsvFile(beam.DoFn):
    """A file's rows as serialized tf.Examples (deterministic, so TFX's split holds)."""

    def __init__(self, column_names: list[str], delimiter: str):
        """Keeps the dialect.

        Args:
            column_names: The split's header.
            delimiter: The field separator.
        """
        self._dialect = arrow_csv.CsvDialect(tuple(column_names), delimiter)
        self._encoder: example_coder.RecordBatchToExamplesEncoder | None = None

    def setup(self) -> None:
        """Creates tfx_bsl's encoder once per worker."""
        self._encoder = example_coder.RecordBatchToExamplesEncoder()

    def process(self, csv_filepath: str, types: list[csv_decoder.ColumnType]) -> Iterable[bytes]:
        """Reads and encodes one file, block by block.

        Args:
            csv_filepath: The file's path.
            types: The split's column types.

        Yields:
            One serialized ``tf.train.Example`` per row.
        """
        assert self._encoder is not None, "setup() creates the encoder"
        with BlockReader(csv_filepath) as handle:
            for block in arrow_csv.read_blocks(handle, csv_filepath, self._dialect):
                yield from arrow_csv.encode_block(block, types, self._encoder).to_pylist()
            handle.check_quotes()


@beam.ptransform_fn
@beam.typehints.with_input_types(beam.Pipeline)
@beam.typehints.with_output_types(bytes)
def csv_to_example_arrow(
    pipeline: beam.Pipeline, exec_properties: dict[str, Any], split_pattern: str
) -> beam.PCollection:
    """Reads one input split's CSV files into serialized tf.Examples with Arrow.

    The same Examples as :func:`csv_to_example` (and TFX's CsvExampleGen), as bytes
    equal to their deterministic serialization: TFX's base executor hashes those
    bytes for the split, as it hashes the deterministic serialization of an
    Example, so each row lands in the same split.

    Args:
        pipeline: The Beam pipeline.
        exec_properties: The ExampleGen's exec properties (``input_base``,
            ``custom_config`` with the delimiter).
        split_pattern: The split's file glob, relative to ``input_base``.

    Returns:
        The split's serialized examples.
    """
    files, column_names, delimiter = split_files(exec_properties, split_pattern)
    names = pipeline | "CreateFilenames" >> beam.Create(files)
    types = beam.pvalue.AsSingleton(
        names
        | "InferColumnTypes" >> beam.ParDo(InferCsvFileTypes(column_names, delimiter))
        | "MergeColumnTypes" >> beam.CombineGlobally(_merge_file_types)
    )
    return names | "ToTFExample" >> beam.ParDo(EncodeCsvFile(column_names, delimiter), types)


def _merge_file_types(
    found: Iterable[list[csv_decoder.ColumnType]],
) -> list[csv_decoder.ColumnType]:
    # Beam's combiner: applied to files' types and to partial merges alike.
    return arrow_csv.merge_types(list(found))


def hash_split_indices(records: Sequence[bytes], buckets: Sequence[int]) -> np.ndarray:
    """Each record's output split, by TFX's rule for hash-bucket splits.

    TFX's base executor (``_PartitionFn``) takes the SHA-256 of the serialized
    record as an integer, modulo the total of the splits' hash buckets, and the
    split whose cumulative bucket bound is the first above it.

    Args:
        records: Serialized records.
        buckets: The splits' cumulative hash buckets, e.g. ``[4, 5]`` for 4:1.

    Returns:
        The index of each record's split in ``buckets``.
    """
    total = buckets[-1]
    hashed = np.fromiter(
        (int.from_bytes(hashlib.sha256(record).digest(), "big") % total for record in records),
        dtype=np.int64,
        count=len(records),
    )
    return np.searchsorted(np.asarray(buckets), hashed, side="right")


def _write_records(path: str, records: pa.ChunkedArray, order: np.ndarray) -> None:
    # Taken a batch at a time in the shuffled order, so the file's rows are held once.
    options = tf.io.TFRecordOptions(compression_type="GZIP")
    with tf.io.TFRecordWriter(path, options) as writer:
        for start in range(0, len(order), WRITE_BATCH):
            batch = records.take(pa.array(order[start : start + WRITE_BATCH]))
            for record in batch.to_pylist():
                writer.write(record)


@beam.typehints.with_input_types(str, list[csv_decoder.ColumnType])
@beam.typehints.with_output_types(tuple[str, int])
class WriteCsvFileSplits(beam.DoFn):
    """Encodes one CSV file's rows and writes them into their output splits.

    What TFX's base executor does record by record through Beam (hash split,
    ``Reshuffle``, ``WriteToTFRecord``), done a block at a time. TFX's reshuffle
    leaves a split's rows in random order, and the Trainer reads them through a
    10,000-row shuffle buffer, so a file's rows (often in time order) are written in
    a random order too: a seeded one, so the same file gives the same bytes. For
    that a file's encoded rows are held until written (about 300 bytes a row of
    the clicks data), where TFX's in-memory reshuffle holds the whole split as
    Python objects. Each split's file is named by the input file's index, so a
    retried bundle rewrites the same file.
    """

    def __init__(
        self,
        column_names: list[str],
        delimiter: str,
        files: list[str],
        split_uris: list[str],
        buckets: list[int] | None,
    ):
        """Keeps the dialect and where each split goes.

        Args:
            column_names: The input split's header.
            delimiter: The field separator.
            files: The input split's files, in order (a file's index names its output).
            split_uris: The output splits' directories, in ``buckets`` order.
            buckets: The splits' cumulative hash buckets; None: one output split
                holding every row.
        """
        self._dialect = arrow_csv.CsvDialect(tuple(column_names), delimiter)
        self._files = files
        self._split_uris = split_uris
        self._buckets = buckets
        self._encoder: example_coder.RecordBatchToExamplesEncoder | None = None

    def setup(self) -> None:
        """Creates tfx_bsl's encoder once per worker."""
        self._encoder = example_coder.RecordBatchToExamplesEncoder()

    def process(
        self, csv_filepath: str, types: list[csv_decoder.ColumnType]
    ) -> Iterable[tuple[str, int]]:
        """Reads, encodes, splits and writes one file.

        Args:
            csv_filepath: The file's path.
            types: The input split's column types.

        Yields:
            ``(split directory, rows written)`` for each output split.
        """
        assert self._encoder is not None, "setup() creates the encoder"
        shares: list[list[pa.Array]] = [[] for _ in self._split_uris]
        with BlockReader(csv_filepath) as handle:
            for block in arrow_csv.read_blocks(handle, csv_filepath, self._dialect):
                records = arrow_csv.encode_block(block, types, self._encoder)
                if self._buckets is None:
                    shares[0].append(records)
                    continue
                split = hash_split_indices(records.to_pylist(), self._buckets)
                for index, share in enumerate(shares):
                    share.append(records.filter(pa.array(split == index)))
            handle.check_quotes()
        position = self._files.index(csv_filepath)
        order = np.random.default_rng([SHUFFLE_SEED, position])
        name = f"{RECORDS_PREFIX}-{position:05d}-of-{len(self._files):05d}{RECORDS_SUFFIX}"
        for uri, share in zip(self._split_uris, shares, strict=True):
            records = pa.chunked_array(share, pa.large_binary())
            _write_records(os.path.join(uri, name), records, order.permutation(len(records)))
            yield uri, len(records)


def write_csv_splits(
    pipeline: beam.Pipeline,
    exec_properties: dict[str, Any],
    split_pattern: str,
    split_uris: list[str],
    buckets: list[int] | None,
) -> beam.PCollection:
    """Writes one input split's CSV files into output splits with Arrow.

    Args:
        pipeline: The Beam pipeline.
        exec_properties: The ExampleGen's exec properties (``input_base``,
            ``custom_config`` with the delimiter).
        split_pattern: The input split's file glob, relative to ``input_base``.
        split_uris: The output splits' directories (one without ``buckets``).
        buckets: The output splits' cumulative hash buckets, or None.

    Returns:
        ``(split directory, rows written)`` per input file and output split.
    """
    files, column_names, delimiter = split_files(exec_properties, split_pattern)
    names = pipeline | f"CreateFilenames[{split_pattern}]" >> beam.Create(files)
    types = beam.pvalue.AsSingleton(
        names
        | f"InferColumnTypes[{split_pattern}]"
        >> beam.ParDo(InferCsvFileTypes(column_names, delimiter))
        | f"MergeColumnTypes[{split_pattern}]" >> beam.CombineGlobally(_merge_file_types)
    )
    writer = WriteCsvFileSplits(column_names, delimiter, files, split_uris, buckets)
    return names | f"WriteSplits[{split_pattern}]" >> beam.ParDo(writer, types)


# -- The executor -------------------------------------------------------------------

# The lever switch: True reads with Arrow and tfx_bsl's encoder
# (:func:`csv_to_example_arrow`); False is the row-by-row path of TFX's CsvExampleGen
# (:func:`csv_to_example`), for measuring what the Arrow reader saves. The Examples
# and splits are the same either way (tests/unit/test_example_gen.py).
ARROW_READER = True
# The lever switch for the write: True has the Arrow path write the splits itself
# (:class:`WriteCsvFileSplits`); False hands its records to TFX's base executor to
# split and write one by one. The same Examples in the same splits either way.
DIRECT_WRITE = True


class Executor(BaseExampleGenExecutor):
    """CsvExampleGen's executor with a configurable delimiter, BOM stripping and gzip."""

    def Do(  # noqa: N802 (TFX's name)
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        """Writes the span's splits: with Arrow directly, else as TFX's base executor.

        Args:
            input_dict: None used (a file-based ExampleGen reads ``input_base``).
            output_dict: ``examples``: the one Examples artifact.
            exec_properties: ``input_base``, ``input_config``, ``output_config``,
                ``custom_config`` (the delimiter), the output formats.
        """
        input_config = example_gen_pb2.Input()
        proto_utils.json_to_proto(
            exec_properties[standard_component_specs.INPUT_CONFIG_KEY], input_config
        )
        output_config = example_gen_pb2.Output()
        proto_utils.json_to_proto(
            exec_properties[standard_component_specs.OUTPUT_CONFIG_KEY], output_config
        )
        file_format = exec_properties.get(
            standard_component_specs.OUTPUT_FILE_FORMAT_KEY,
            example_gen_pb2.FILE_FORMAT_UNSPECIFIED,
        )
        # A split by a feature's value, or another output format, is TFX's to write.
        if (
            not (ARROW_READER and DIRECT_WRITE)
            or output_config.split_config.partition_feature_name
            or file_format
            not in (example_gen_pb2.FILE_FORMAT_UNSPECIFIED, example_gen_pb2.FORMAT_TFRECORDS_GZIP)
        ):
            super().Do(input_dict, output_dict, exec_properties)
            return
        self._log_startup(input_dict, output_dict, exec_properties)
        artifacts = output_dict[standard_component_specs.EXAMPLES_KEY]
        names = example_gen_utils.generate_output_split_names(input_config, output_config)
        examples = artifact_utils.get_single_instance(artifacts)
        examples.split_names = artifact_utils.encode_split_names(names)
        uris = [artifact_utils.get_split_uri(artifacts, name) for name in names]
        for uri in uris:
            fileio.makedirs(uri)
        with self._make_beam_pipeline() as pipeline:
            if output_config.split_config.splits:
                # As in TFX: one input split, hashed into the output splits.
                bounds = [split.hash_buckets for split in output_config.split_config.splits]
                buckets = [sum(bounds[: i + 1]) for i in range(len(bounds))]
                write_csv_splits(
                    pipeline, exec_properties, input_config.splits[0].pattern, uris, buckets
                )
            else:
                for split, uri in zip(input_config.splits, uris, strict=True):
                    write_csv_splits(pipeline, exec_properties, split.pattern, [uri], None)
        payload_format = exec_properties.get(standard_component_specs.OUTPUT_DATA_FORMAT_KEY)
        if payload_format:
            examples_utils.set_payload_format(examples, payload_format)
        examples_utils.set_file_format(examples, write_split.to_file_format_str(file_format))

    def GetInputSourceToExamplePTransform(self) -> beam.PTransform:
        """Returns the PTransform from one input split's CSV files to tf.Examples.

        Returns:
            :func:`csv_to_example_arrow`, or :func:`csv_to_example` when
            :data:`ARROW_READER` is False.
        """
        return csv_to_example_arrow if ARROW_READER else csv_to_example


class CsvExampleGen(FileBasedExampleGen):
    """TFX's file-based ExampleGen running :class:`Executor`, with a ``delimiter``.

    The same spec, driver (span, version, input fingerprint) and outputs as TFX's
    CsvExampleGen; the delimiter is in ``custom_config``, an exec property, so it is
    part of the cache key.
    """

    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)

    def __init__(
        self,
        input_base: str,
        input_config: example_gen_pb2.Input,
        output_config: example_gen_pb2.Output,
        range_config: range_config_pb2.RangeConfig | None = None,
        delimiter: str = DEFAULT_DELIMITER,
    ):
        super().__init__(
            input_base=input_base,
            input_config=input_config,
            output_config=output_config,
            custom_config=custom_config(delimiter),
            range_config=range_config,
        )


def exec_properties(
    input_base: str,
    split_pattern: str,
    delimiter: str = DEFAULT_DELIMITER,
    output_config: example_gen_pb2.Output | None = None,
    split_name: str = "all",
) -> dict[str, Any]:
    """The exec properties :class:`Executor` needs, as TFX's launcher passes them.

    Args:
        input_base: The directory the pattern is relative to.
        split_pattern: A resolved file glob (no span spec), relative to ``input_base``.
        delimiter: The field separator.
        output_config: Hash-bucket output splits; None: one output split holding
            every row, named ``split_name``.
        split_name: The input split's name (the output split's without ``output_config``).

    Returns:
        ``input_base``, ``input_config``, ``output_config``, ``custom_config`` (protos
        as JSON strings), ``output_data_format`` and ``output_file_format``.
    """
    input_config = example_gen_pb2.Input(
        splits=[example_gen_pb2.Input.Split(name=split_name, pattern=split_pattern)]
    )
    return {
        standard_component_specs.INPUT_BASE_KEY: input_base,
        standard_component_specs.INPUT_CONFIG_KEY: proto_utils.proto_to_json(input_config),
        standard_component_specs.OUTPUT_CONFIG_KEY: proto_utils.proto_to_json(
            output_config or example_gen_pb2.Output()
        ),
        standard_component_specs.CUSTOM_CONFIG_KEY: proto_utils.proto_to_json(
            custom_config(delimiter)
        ),
        standard_component_specs.OUTPUT_DATA_FORMAT_KEY: example_gen_pb2.FORMAT_TF_EXAMPLE,
        standard_component_specs.OUTPUT_FILE_FORMAT_KEY: example_gen_pb2.FORMAT_TFRECORDS_GZIP,
    }


def write_examples(
    properties: dict[str, Any], output_uri: str, executor: BaseExampleGenExecutor | None = None
) -> standard_artifacts.Examples:
    """Runs an ExampleGen executor outside a pipeline (no ML Metadata, no driver).

    Args:
        properties: Exec properties, e.g. from :func:`exec_properties`.
        output_uri: Directory for the Examples (``Split-<name>/`` under it).
        executor: The executor to run; default :class:`Executor`.

    Returns:
        The Examples artifact (``uri`` and ``split_names`` set) for TFDV or a reader.
    """
    examples = standard_artifacts.Examples()
    examples.uri = output_uri
    # A copy: the executor adds its Beam arguments to the dict it is given.
    (executor or Executor()).Do(
        {}, {standard_component_specs.EXAMPLES_KEY: [examples]}, dict(properties)
    )
    return examples
