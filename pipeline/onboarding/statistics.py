"""Statistics of the spans as the pipeline sees them: its ExampleGen, then TFDV.

``tfdv.generate_statistics_from_csv`` reads an empty cell as a missing feature, while
CsvExampleGen writes it as a feature with zero values; a schema inferred from the
former fails ExampleValidator on the very data it came from. So the spans are decoded
by the executor of the pipeline's own ingest node (whatever ExampleGen the pipeline
uses, with its exec properties), and TFDV computes statistics over those tf.Examples,
as StatisticsGen does.
"""

from __future__ import annotations

import contextlib
import dataclasses
import glob
import json
import os
import tempfile
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from tensorflow_metadata.proto.v0 import schema_pb2, statistics_pb2

from pipeline.config import PipelineConfig
from pipeline.run.guards import csv_check

if TYPE_CHECKING:  # TFDV is imported when statistics are computed, not at import
    from tensorflow_data_validation.statistics import stats_options as tfdv_options


class SpanReadError(ValueError):
    """A span's CSV cannot be decoded (the message names the file, line and problem)."""


@dataclasses.dataclass(frozen=True)
class SpanStatistics:
    """Statistics over the spans of a training window.

    Attributes:
        spans: The span numbers decoded, oldest first.
        statistics: One dataset of statistics over every split of every span.
    """

    spans: tuple[int, ...]
    statistics: statistics_pb2.DatasetFeatureStatisticsList


@dataclasses.dataclass(frozen=True)
class DecodedWindow:
    """The spans of a training window, decoded into tf.Examples in a scratch folder.

    Attributes:
        spans: The span numbers, oldest first.
        records: A glob of every split's TFRecord files of every span.
    """

    spans: tuple[int, ...]
    records: str

    def statistics(
        self, options: tfdv_options.StatsOptions | None = None
    ) -> statistics_pb2.DatasetFeatureStatisticsList:
        """TFDV statistics over every decoded example, as one dataset.

        Args:
            options: TFDV options (None: TFDV's defaults).

        Returns:
            The statistics.
        """
        import tensorflow_data_validation as tfdv

        return tfdv.generate_statistics_from_tfrecord(
            data_location=self.records, stats_options=options or tfdv.StatsOptions()
        )


def decode_span(config: PipelineConfig, span: int, out_dir: str) -> str:
    """Runs the pipeline's ExampleGen executor on one span, writing tf.Examples.

    The executor class and exec properties come from the pipeline's own ingest node,
    so any decoding it does (delimiter, byte-order mark, compression) applies here
    too. The node's driver resolves the span's file pattern, as in a run.

    Args:
        config: The pipeline config.
        span: The span to decode (a static range selects it).
        out_dir: Directory for the Examples artifact (``Split-<name>`` folders).

    Returns:
        ``out_dir``.
    """
    from tfx.types import standard_artifacts

    from pipeline import pipeline

    node = pipeline.ingest_nodes(config, span)[0]
    # The driver takes an ML Metadata handle it does not use to resolve a pattern.
    driver = node.driver_class(None)
    exec_properties = driver.resolve_exec_properties(dict(node.exec_properties), None, None)
    examples = standard_artifacts.Examples()
    examples.uri = out_dir
    examples.span = span
    try:
        node.executor_spec.executor_class().Do({}, {"examples": [examples]}, exec_properties)
    except Exception:
        # Beam's CSV errors name neither file nor line: find them as a run does.
        problem = csv_check.diagnose(_patterns(exec_properties), config.data.delimiter)
        if problem is None:
            raise
        raise SpanReadError(f"span {span} cannot be read: {problem}") from None
    return out_dir


def _patterns(exec_properties: dict[str, Any]) -> list[str]:
    # The driver wrote the span's resolved file patterns into the input config.
    splits = json.loads(exec_properties["input_config"])["splits"]
    return [os.path.join(exec_properties["input_base"], split["pattern"]) for split in splits]


def pipeline_stats_options(config: PipelineConfig) -> tfdv_options.StatsOptions | None:
    """The options the pipeline's StatisticsGen computes statistics with.

    Args:
        config: The pipeline config.

    Returns:
        TFDV options read back from the node's ``stats_options_json``, or None.
    """
    from tensorflow_data_validation.statistics import stats_options

    from pipeline import pipeline

    options_json = pipeline.ingest_nodes(config, None)[1].exec_properties.get("stats_options_json")
    return stats_options.StatsOptions.from_json(options_json) if options_json else None


def integers_as_categorical(
    statistics: statistics_pb2.DatasetFeatureStatisticsList,
) -> tfdv_options.StatsOptions:
    """Options under which TFDV counts the distinct values of every integer column.

    TFDV computes no distinct count for numbers; a schema marking an integer column
    categorical makes it compute string statistics (distinct values, top values).

    Args:
        statistics: Statistics naming the integer columns.

    Returns:
        The options.
    """
    from tensorflow_data_validation.statistics import stats_options

    schema = schema_pb2.Schema()
    for feature in statistics.datasets[0].features:
        if feature.type == statistics_pb2.FeatureNameStatistics.INT:
            schema.feature.add(
                name=feature.path.step[-1],
                type=schema_pb2.INT,
                int_domain=schema_pb2.IntDomain(is_categorical=True),
            )
    return stats_options.StatsOptions(schema=schema)


@contextlib.contextmanager
def decoded_window(config: PipelineConfig) -> Iterator[DecodedWindow]:
    """Decodes the training window's spans into a scratch folder, removed on exit.

    Args:
        config: The pipeline config (``data.window_spans`` newest spans are read).

    Yields:
        The decoded window.

    Raises:
        FileNotFoundError: If no span matches ``data.span_pattern``, or the spans
            hold no rows.
    """
    from pipeline import spans

    numbers = spans.newest_spans(config, config.data.window_spans)
    with tempfile.TemporaryDirectory(prefix="onboarding-") as scratch:
        for span in numbers:
            decode_span(config, span, os.path.join(scratch, f"span-{span}"))
        records = os.path.join(scratch, "span-*", "Split-*", "*")
        if not glob.glob(records):
            raise FileNotFoundError(
                f"spans {numbers} under {config.data.input_base} hold no rows: nothing to "
                "infer a schema from"
            )
        yield DecodedWindow(tuple(numbers), records)


def window_statistics(config: PipelineConfig) -> SpanStatistics:
    """Statistics over every span of the training window, as a run computes them.

    Args:
        config: The pipeline config (``data.window_spans`` newest spans are read).

    Returns:
        The spans read and their statistics, every split of every span in one
        dataset, under TFDV's default options: StatisticsGen counts a class label's
        classes (``pipeline_stats_options``), and ``tfdv.infer_schema`` would give
        that integer column a string domain, which TFDV itself then rejects ("does
        not match the type: INT"); inferred from its numeric statistics, the label
        gets an integer domain that validates against both.

    Raises:
        FileNotFoundError: If no span matches ``data.span_pattern``, or the spans
            hold no rows.
    """
    with decoded_window(config) as window:
        return SpanStatistics(window.spans, window.statistics())
