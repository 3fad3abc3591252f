"""Span discovery with TFX's own ExampleGen span matching.

Used by the runners to fill the rolling window on a fresh metadata store and by
``python -m pipeline schema``, so both agree with what CsvExampleGen will read.
"""

from __future__ import annotations

import datetime
import glob
import json
import os
import re
from pathlib import Path

from apache_beam.io.filesystem import CompressionTypes
from tfx.components.example_gen import utils
from tfx.proto import example_gen_pb2, range_config_pb2

from pipeline.config import PipelineConfig

SPLIT_NAME = "single_split"
MAX_LOOKBACK = 400


def input_config(config: PipelineConfig) -> example_gen_pb2.Input:
    """Returns CsvExampleGen's input config: one split over the span pattern.

    Args:
        config: The pipeline config.

    Returns:
        The ExampleGen ``Input`` proto.
    """
    return example_gen_pb2.Input(
        splits=[example_gen_pb2.Input.Split(name=SPLIT_NAME, pattern=config.data.span_pattern)]
    )


def _resolve(
    config: PipelineConfig, range_config: range_config_pb2.RangeConfig | None
) -> tuple[int, str]:
    split = input_config(config).splits[0]
    _, span, _ = utils.calculate_splits_fingerprint_span_and_version(
        str(config.data.input_base), [split], range_config=range_config
    )
    # The call rewrote split.pattern with the resolved span's values.
    return span, os.path.join(str(config.data.input_base), split.pattern)


def static_range(span: int) -> range_config_pb2.RangeConfig:
    """Returns a RangeConfig selecting exactly one span.

    Args:
        span: The span number (for date patterns: days since 1970-01-01).

    Returns:
        The range config.
    """
    return range_config_pb2.RangeConfig(
        static_range=range_config_pb2.StaticRange(start_span_number=span, end_span_number=span)
    )


def span_for_date(config: PipelineConfig, day: datetime.date) -> int | None:
    """Returns the span a scheduler's logical date selects, if the layout is by date.

    Args:
        config: The pipeline config.
        day: The logical date (the day whose data the run processes).

    Returns:
        The span number for a ``{YYYY}-{MM}-{DD}`` pattern (days since 1970-01-01),
        or None for a ``{SPAN}`` pattern, whose runs ingest the newest span.
    """
    if "{YYYY}" not in config.data.span_pattern:
        return None
    return utils.date_to_span_number(day.year, day.month, day.day)


def span_files(config: PipelineConfig, span: int) -> list[str]:
    """Returns the files of one span, matched as CsvExampleGen will match them.

    Args:
        config: The pipeline config.
        span: The span number.

    Returns:
        The span's file paths, sorted; empty when none has arrived.
    """
    try:
        _, pattern = _resolve(config, static_range(span))
    except ValueError:  # TFX's way of saying "no file for this span"
        return []
    return sorted(glob.glob(pattern))


def newest_span(config: PipelineConfig) -> tuple[int, str]:
    """Resolves the newest span exactly as CsvExampleGen will.

    Args:
        config: The pipeline config.

    Returns:
        ``(span number, absolute glob of that span's files)``.

    Raises:
        FileNotFoundError: If no file matches the span pattern.
    """
    try:
        span, pattern = _resolve(config, None)
    except (ValueError, FileNotFoundError) as err:
        everywhere = os.path.join(
            str(config.data.input_base), re.sub(r"\{[A-Z]+\}", "*", config.data.span_pattern)
        )
        raise FileNotFoundError(
            f"no span matching {config.data.span_pattern!r} under {config.data.input_base}: "
            f"{err}{compressed_hint(config, everywhere)}"
        ) from None
    if not glob.glob(pattern):
        raise FileNotFoundError(f"span {span} has no files matching {pattern}")
    newer_empty = [path for number, path in empty_span_dirs(config) if number > span]
    if newer_empty:
        directory = newer_empty[-1]
        files = os.path.basename(config.data.span_pattern)
        raise FileNotFoundError(
            f"span directory {directory} has no file matching {files!r}: the newest day's "
            f"data is missing (an upload that never arrived?). Nothing ran; the newest "
            f"complete span is {span}. Add the files, or remove the empty directory to "
            f"retrain on the older spans.{compressed_hint(config, str(directory / files))}"
        )
    return span, pattern


def compressed_hint(config: PipelineConfig, files: str) -> str:
    """Points at compressed files the span pattern misses (``*.csv`` vs ``clicks.csv.gz``).

    ExampleGen decompresses by extension, so a gzipped span needs the extension in
    ``data.span_pattern``; without it the day looks missing.

    Args:
        config: The pipeline config.
        files: The glob that matched nothing.

    Returns:
        ``" It holds <file>: ..."`` with the pattern to configure, or ``""``.
    """
    for path in sorted(glob.glob(files + ".*")):
        if CompressionTypes.detect_compression_type(path) != CompressionTypes.UNCOMPRESSED:
            suffix = os.path.splitext(path)[1]
            return (
                f" It holds {path}: compressed spans are read when the pattern names "
                f"their extension, data.span_pattern: "
                f"{json.dumps(config.data.span_pattern + suffix)}."
            )
    return ""


_SPEC_REGEX = {
    "{SPAN}": r"(?P<span>\d+)",
    "{VERSION}": r"\d+",
    "{YYYY}": r"(?P<y>\d{4})",
    "{MM}": r"(?P<m>\d{2})",
    "{DD}": r"(?P<d>\d{2})",
}


def empty_span_dirs(config: PipelineConfig) -> list[tuple[int, Path]]:
    """Finds span directories that exist but hold no file matching the pattern.

    CsvExampleGen ignores such a directory and silently re-ingests the previous
    span, so a day whose upload never arrived would look like "no new data".

    Args:
        config: The pipeline config (span spec in a directory of the pattern).

    Returns:
        ``(span number, directory)`` pairs, oldest first; empty when the span spec
        is in the file name rather than a directory.
    """
    directory, files = os.path.split(config.data.span_pattern)
    if "{" not in directory:
        return []
    regex = re.escape(directory)
    for spec, group in _SPEC_REGEX.items():
        regex = regex.replace(re.escape(spec), group, 1).replace(re.escape(spec), r"\d+")
    matcher = re.compile(regex + r"\Z")
    base = Path(config.data.input_base)
    found = []
    for path in base.glob(re.sub(r"\{[A-Z]+\}", "*", directory)):
        match = matcher.match(path.relative_to(base).as_posix())
        if not match or not path.is_dir() or glob.glob(str(path / files)):
            continue
        parts = match.groupdict()
        span = (
            int(parts["span"])
            if parts.get("span")
            else utils.date_to_span_number(int(parts["y"]), int(parts["m"]), int(parts["d"]))
        )
        found.append((span, path))
    return sorted(found)


def newest_spans(
    config: PipelineConfig, count: int, up_to: int | None = None, lookback: int = MAX_LOOKBACK
) -> list[int]:
    """Returns up to ``count`` newest span numbers present on disk, oldest first.

    Spans below the newest are probed one number at a time with a single-span
    RangeConfig: TFX matches a multi-span static range only for ``{SPAN}``
    patterns, not date patterns, while single spans work for both.

    Args:
        config: The pipeline config.
        count: How many spans at most.
        up_to: Consider only spans up to this one (default: the newest on disk); the
            spans below it are still looked up on disk, ``up_to`` itself is included
            whether or not its files exist yet.
        lookback: How many span numbers below the newest to probe at most (gaps
            in daily data are allowed up to this).

    Returns:
        Span numbers in increasing order; fewer than ``count`` if fewer exist.
    """
    newest = newest_span(config)[0] if up_to is None else up_to
    spans = [newest]
    for candidate in range(newest - 1, max(newest - 1 - lookback, -1), -1):
        if len(spans) == count:
            break
        try:
            _resolve(config, static_range(candidate))
        except ValueError:  # TFX's way of saying "no file for this span"
            continue
        spans.append(candidate)
    return sorted(spans)
