"""What the data gate checks on the label column, read from TFDV statistics.

A day whose labels are all 0 has ordinary features, so it passes every schema check
and every feature's drift limit; only the label's own distribution shows it. The
DataGate (:mod:`components.data_gate`) therefore compares the label's distribution
with the previous passing span's (class shares by L-infinity distance for a class
label, Jensen-Shannon divergence for a float one) and refuses an eval split that
holds a single class. This module reads what the gate needs from the statistics;
the gate turns it into findings.
"""

from __future__ import annotations

import tensorflow_data_validation as tfdv
from tensorflow_metadata.proto.v0 import schema_pb2, statistics_pb2


def label_subject(name: str) -> str:
    """How reports name the label column.

    Args:
        name: The label column.

    Returns:
        ``label 'clicked'``.
    """
    return f"label '{name}'"


def class_label_stats_options(label: str) -> tfdv.StatsOptions:
    """StatisticsGen's options under which TFDV counts the label's classes.

    StatisticsGen computes numeric statistics for an integer column unless a schema
    marks it categorical, and TFDV's L-infinity distance (how far class shares
    moved) reads categorical statistics only: on numeric ones it is 0
    (tensorflow/data-validation#147). A one-feature schema marking the label
    categorical changes the label's statistics alone (class counts instead of a
    histogram), whatever the curated schema says; ExampleValidator still checks the
    label's integer domain against them.

    Args:
        label: The label column of a classification task.

    Returns:
        Options for ``StatisticsGen(stats_options=...)``.
    """
    schema = schema_pb2.Schema()
    feature = schema.feature.add(name=label, type=schema_pb2.INT)
    feature.int_domain.is_categorical = True
    return tfdv.StatsOptions(schema=schema)


def label_statistics(
    statistics: statistics_pb2.DatasetFeatureStatisticsList, label: str
) -> statistics_pb2.FeatureNameStatistics | None:
    """The label's statistics in one split's statistics.

    Args:
        statistics: One split's statistics (StatisticsGen's ``FeatureStats.pb``).
        label: The label column.

    Returns:
        The label's statistics, or None if the split has no such column.
    """
    if not statistics.datasets:
        return None
    try:
        return tfdv.get_feature_stats(statistics.datasets[0], tfdv.FeaturePath([label]))
    except ValueError:  # not in the data: ExampleValidator reports the missing label
        return None


def single_class(
    statistics: statistics_pb2.DatasetFeatureStatisticsList, label: str
) -> tuple[int, str] | None:
    """Whether every labelled example of a split has the same class.

    Args:
        statistics: The split's statistics.
        label: The label column of a classification task.

    Returns:
        ``(examples, the one value)`` if the split holds a single class; None if it
        holds two or more, or no label at all (ExampleValidator reports that).
    """
    feature = label_statistics(statistics, label)
    if feature is None:
        return None
    if feature.HasField("string_stats"):  # class counts (class_label_stats_options)
        classes = feature.string_stats
        count = classes.common_stats.num_non_missing
        if count == 0 or classes.unique != 1 or not classes.top_values:
            return None
        return int(count), classes.top_values[0].value
    if feature.HasField("num_stats"):  # statistics computed without class counts
        numbers = feature.num_stats
        count = numbers.common_stats.num_non_missing
        if count == 0 or numbers.min != numbers.max:
            return None
        return int(count), f"{numbers.min:g}"
    return None


def label_comparable(
    previous: statistics_pb2.DatasetFeatureStatisticsList, label: str, classes: bool
) -> bool:
    """Whether the label's drift can be measured against these older statistics.

    A class label's shares are compared on class counts; statistics computed before
    StatisticsGen counted classes (by an older version of the pipeline) hold a
    histogram instead, and TFDV would find every class new (a distance of the
    largest class's share), blocking a normal day. A float label is always
    comparable.

    Args:
        previous: The previous passing span's statistics.
        label: The label column.
        classes: Whether it holds class ids (binary and multiclass tasks).

    Returns:
        False if the label is a class label without class counts in ``previous``.
    """
    if not classes:
        return True
    feature = label_statistics(previous, label)
    return feature is None or feature.HasField("string_stats")
