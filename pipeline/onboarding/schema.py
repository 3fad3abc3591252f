"""Infer, update and open up a schema from the statistics the pipeline computes.

A schema is inferred once (``tfdv.infer_schema``) and then curated; later runs of
``python -m pipeline schema`` update it with ``tfdv.update_schema``, which keeps what
was curated (domains, ``min_domain_mass``, presence, value counts, drift and skew
comparators) and only relaxes or extends what the new statistics contradict: a new
column, a new value of a closed domain, a column that now has blanks.

Open and closed categorical columns: a string column listed in
``validation.open_domains``, or with more distinct values in the training window
than ``validation.max_domain_values``, gets no domain at all. ExampleValidator then
accepts any value of it, and the model maps an unseen value to its OOV buckets
(``components/model/preprocessing.py``). Every other string column with a domain is
closed: a value outside it is an anomaly that blocks the day.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from tensorflow_metadata.proto.v0 import schema_pb2, statistics_pb2

from pipeline.config import PipelineConfig, ValidationConfig
from pipeline.onboarding import statistics

# A string domain can be named (``domain: "x"`` plus a top-level ``string_domain``)
# or inline; both are closed domains.
_STRING_DOMAINS = ("domain", "string_domain")


@dataclasses.dataclass(frozen=True)
class OpenedColumn:
    """A string column left without a closed domain, and why.

    Attributes:
        name: The column.
        reason: ``"listed in validation.open_domains"`` or the distinct-value count.
    """

    name: str
    reason: str


def distinct_values(statistics: statistics_pb2.DatasetFeatureStatisticsList) -> dict[str, int]:
    """Distinct values of each string column in the default slice's statistics.

    Args:
        statistics: TFDV statistics (one dataset, or slices with the default one first).

    Returns:
        Column name -> TFDV's count of distinct values (string columns only).
    """
    counts = {}
    for feature in statistics.datasets[0].features:
        if feature.HasField("string_stats"):
            counts[feature.path.step[-1] if feature.path.step else feature.name] = (
                feature.string_stats.unique
            )
    return counts


def open_domains(
    schema: schema_pb2.Schema,
    statistics: statistics_pb2.DatasetFeatureStatisticsList,
    validation: ValidationConfig,
) -> list[OpenedColumn]:
    """Removes the closed domain of every open string column, in place.

    A column is open when ``validation.open_domains`` lists it or its distinct values
    exceed ``validation.max_domain_values``. Its ``min_domain_mass`` goes with the
    domain: it only means something relative to a domain.

    Why no domain rather than a ``min_domain_mass`` below 1: with a mass, a day whose
    share of unseen values passes the tolerance (a new city in a small day, or a
    company's first big day) still blocks, and no mass fits every day; an open
    column's changes are watched by the drift comparison instead.

    Args:
        schema: The schema to change.
        statistics: The statistics it was inferred from or updated with.
        validation: The config's ``validation`` section.

    Returns:
        The columns whose domain was removed (or had none to remove), with the reason.
    """
    counts = distinct_values(statistics)
    opened = []
    for feature in schema.feature:
        if feature.type != schema_pb2.BYTES:
            continue
        if feature.name in validation.open_domains:
            reason = "listed in validation.open_domains"
        elif counts.get(feature.name, 0) > validation.max_domain_values:
            reason = (
                f"{counts[feature.name]} distinct values > validation.max_domain_values "
                f"{validation.max_domain_values}"
            )
        else:
            continue
        if feature.WhichOneof("domain_info") in _STRING_DOMAINS:
            feature.ClearField("domain_info")
            feature.ClearField("distribution_constraints")
        opened.append(OpenedColumn(feature.name, reason))
    used = {feature.domain for feature in schema.feature if feature.HasField("domain")}
    kept = [domain for domain in schema.string_domain if domain.name in used]
    del schema.string_domain[:]
    schema.string_domain.extend(kept)
    return opened


def infer_schema(
    statistics: statistics_pb2.DatasetFeatureStatisticsList, validation: ValidationConfig
) -> tuple[schema_pb2.Schema, list[OpenedColumn]]:
    """Infers a schema from scratch, with open columns left without a domain.

    Shapes are inferred: a column with a value in every example of the window gets
    the dense shape ``[1]``; a column with blanks (examples holding the feature with
    zero values, as ExampleGen writes an empty cell) gets none, and TFDV sets no
    value count for it, so ExampleValidator accepts the blanks.

    Args:
        statistics: Statistics over the training window (:mod:`.statistics`).
        validation: The config's ``validation`` section.

    Returns:
        The schema and the columns left open.
    """
    import tensorflow_data_validation as tfdv

    schema = tfdv.infer_schema(
        statistics,
        infer_feature_shape=True,
        max_string_domain_size=validation.max_domain_values,
    )
    return schema, open_domains(schema, statistics, validation)


def update_schema(
    current: schema_pb2.Schema,
    statistics: statistics_pb2.DatasetFeatureStatisticsList,
    validation: ValidationConfig,
) -> tuple[schema_pb2.Schema, list[OpenedColumn]]:
    """Updates a curated schema with ``tfdv.update_schema``: keep, add, relax.

    Args:
        current: The curated schema.
        statistics: Statistics over the training window.
        validation: The config's ``validation`` section.

    Returns:
        The updated schema (a new message) and the columns left open.
    """
    import tensorflow_data_validation as tfdv

    schema = tfdv.update_schema(
        current, statistics, max_string_domain_size=validation.max_domain_values
    )
    return schema, open_domains(schema, statistics, validation)


def read_schema(path: Path) -> schema_pb2.Schema | None:
    """Reads a text-format schema, or returns None if the file does not exist.

    Args:
        path: A ``schema.pbtxt``.

    Returns:
        The schema or None.
    """
    import tensorflow_data_validation as tfdv

    return tfdv.load_schema_text(str(path)) if path.exists() else None


def write_schema(schema: schema_pb2.Schema, path: Path) -> None:
    """Writes a schema in text format, creating the directory.

    Args:
        schema: The schema.
        path: Destination ``schema.pbtxt``.
    """
    import tensorflow_data_validation as tfdv

    path.parent.mkdir(parents=True, exist_ok=True)
    tfdv.write_schema_text(schema, str(path))


@dataclasses.dataclass(frozen=True)
class SchemaUpdate:
    """The result of inferring or updating a config's schema from its training window.

    Attributes:
        spans: The spans the statistics cover, oldest first.
        current: The schema on disk (None if there is none).
        schema: The new schema.
        opened: The string columns left without a closed domain.
        fresh: Whether the schema was inferred from scratch rather than updated.
    """

    spans: tuple[int, ...]
    current: schema_pb2.Schema | None
    schema: schema_pb2.Schema
    opened: list[OpenedColumn]
    fresh: bool


def schema_for(
    config: PipelineConfig,
    *,
    fresh: bool = False,
    window: statistics.SpanStatistics | None = None,
) -> SchemaUpdate:
    """Infers (no schema yet, or ``fresh``) or updates ``config.schema_file``'s schema.

    Args:
        config: The pipeline config.
        fresh: Re-infer from scratch, dropping every curated setting.
        window: Statistics already computed over the training window (default:
            computed here).

    Returns:
        The new schema and what it was made from; nothing is written.
    """
    window = window or statistics.window_statistics(config)
    current = read_schema(config.schema_file)
    if current is None or fresh:
        schema, opened = infer_schema(window.statistics, config.validation)
    else:
        schema, opened = update_schema(current, window.statistics, config.validation)
    return SchemaUpdate(window.spans, current, schema, opened, fresh or current is None)
