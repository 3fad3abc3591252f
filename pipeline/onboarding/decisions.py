"""What ``init`` makes of each column, decided from the training window's statistics.

The rules, in order (each decision is printed with its reason):

- the label column is the label; its task is ``regression`` for a float label,
  ``binary`` for an integer label with the two values 0 and 1, ``multiclass`` for
  integer class ids ``0..n-1`` with ``3 <= n <= MAX_CLASSES`` (``--task`` overrides);
- a column that is blank in every row is ignored;
- a column whose name TensorFlow cannot use is left out, with a sentence;
- a string or integer column that is near-unique (at least ``ID_RATIO`` of its
  values distinct, and more than ``MAX_CATEGORICAL_INTS`` of them) is ID-like and
  ignored: it cannot generalise to the next day's rows;
- a string column is categorical; one with more distinct values than
  ``validation.max_domain_values`` is noted as open (no closed domain);
- an integer column with at most ``MAX_CATEGORICAL_INTS`` distinct values is
  categorical (codes, ratings, flags), any other integer or float column numeric;
- nothing is bucketized: quantile buckets are a modelling choice, made by moving a
  numeric column under ``features.bucketized`` by hand.
"""

from __future__ import annotations

import dataclasses
import re

from tensorflow_metadata.proto.v0 import statistics_pb2
from tensorflow_metadata.proto.v0.statistics_pb2 import FeatureNameStatistics as Stats

from components.model.features import TASKS

ID_RATIO = 0.9
MAX_CATEGORICAL_INTS = 10
MAX_CLASSES = 50
MAX_DOMAIN_VALUES = 100  # validation.max_domain_values' default
# FeatureSpec's rule for column names (components/model/features.py): transformed
# columns become Keras input and TensorFlow op names.
_VALID_NAME = re.compile(r"^[A-Za-z0-9.][A-Za-z0-9_.\-]*$")


class DecisionError(ValueError):
    """The label cannot be used as given (the message names it and says why)."""


@dataclasses.dataclass(frozen=True)
class Column:
    """One column's decision.

    Attributes:
        name: The column.
        role: ``label``, ``numeric``, ``categorical``, ``ignored`` or ``skipped``.
        reason: Why, in a few words with the numbers it was decided on.
        open_domain: A string column with too many values for a closed domain.
    """

    name: str
    role: str
    reason: str
    open_domain: bool = False


@dataclasses.dataclass(frozen=True)
class Decisions:
    """Every column's role and the task.

    Attributes:
        columns: One decision per column, in the statistics' order.
        task: ``binary``, ``multiclass`` or ``regression``.
        num_classes: Classes of a classification task (2 for binary).
        task_reason: Why this task.
    """

    columns: tuple[Column, ...]
    task: str
    num_classes: int
    task_reason: str

    def names(self, role: str) -> list[str]:
        """The columns with this role, in order."""
        return [column.name for column in self.columns if column.role == role]

    @property
    def open_domains(self) -> list[str]:
        """The categorical columns to list in ``validation.open_domains``."""
        return [column.name for column in self.columns if column.open_domain]


def _by_name(
    statistics: statistics_pb2.DatasetFeatureStatisticsList | None,
) -> dict[str, Stats]:
    if statistics is None:
        return {}
    return {feature.path.step[-1]: feature for feature in statistics.datasets[0].features}


def _common(feature: Stats) -> statistics_pb2.CommonStatistics:
    kind = feature.WhichOneof("stats")
    return getattr(feature, kind).common_stats if kind else statistics_pb2.CommonStatistics()


def detect_task(
    label: str, feature: Stats | None, distinct: int | None, task: str | None
) -> tuple[str, int, str]:
    """Chooses the task from the label's statistics, or checks the one given.

    Args:
        label: The label column.
        feature: Its statistics (None: the column does not exist).
        distinct: Its distinct values, for an integer label.
        task: ``--task`` if given.

    Returns:
        ``(task, num_classes, reason)``.

    Raises:
        DecisionError: If the label is missing, a string, or not class ids.
    """
    if feature is None:
        raise DecisionError(f"--label {label!r} is not a column of the data")
    if feature.type in (Stats.STRING, Stats.BYTES):
        raise DecisionError(
            f"label {label!r} holds strings; the model reads integer class ids 0..n-1 "
            "(binary, multiclass) or numbers (regression): write the label so in the CSV"
        )
    low, high = feature.num_stats.min, feature.num_stats.max
    if task is None:
        if feature.type == Stats.FLOAT:
            task = "regression"
        else:
            task = "binary" if distinct == 2 else "multiclass"
        reason = f"detected: {Stats.Type.Name(feature.type)} label, {distinct or 'many'} values"
    else:
        reason = "given by --task"
    if task not in TASKS:
        raise DecisionError(
            f"the task for label {label!r} is {task!r}, which this version's model does not "
            f"support (tasks: {', '.join(TASKS)})"
        )
    if task == "regression":
        return task, 1, f"{reason}, range {low:g}..{high:g}"
    if feature.type == Stats.FLOAT or low < 0 or (distinct or 0) > MAX_CLASSES:
        raise DecisionError(
            f"label {label!r} ({Stats.Type.Name(feature.type)}, values {low:g}..{high:g}) is "
            f"not integer class ids 0..n-1 with n <= {MAX_CLASSES}; a {task} task needs them"
        )
    classes = int(high) + 1
    if task == "binary" and classes != 2:
        raise DecisionError(
            f"label {label!r} has values {low:g}..{high:g}; a binary label is 0 or 1"
        )
    if task == "multiclass" and classes < 3:
        raise DecisionError(f"label {label!r} has {classes} classes; multiclass needs 3 or more")
    return task, classes, f"{reason}, classes 0..{classes - 1}"


def _decide(name: str, feature: Stats, distinct: int | None, max_domain_values: int) -> Column:
    # Even an ignored column must have a valid name (FeatureSpec checks every one).
    if not _VALID_NAME.match(name):
        return Column(
            name,
            "skipped",
            "not a valid TensorFlow name (letters, digits, '_', '.', '-'): rename the "
            "CSV column to use it",
        )
    values = _common(feature).tot_num_values
    if values == 0:
        return Column(name, "ignored", "blank in every row")
    if feature.type == Stats.FLOAT:
        return Column(name, "numeric", "float values")
    distinct = feature.string_stats.unique if feature.type == Stats.STRING else distinct
    shown = f"{distinct} distinct of {values} values"
    if distinct is not None and distinct > MAX_CATEGORICAL_INTS and distinct >= ID_RATIO * values:
        return Column(name, "ignored", f"ID-like: {shown}")
    if feature.type == Stats.STRING:
        if distinct is not None and distinct > max_domain_values:
            return Column(name, "categorical", f"strings, {shown}; open domain", open_domain=True)
        return Column(name, "categorical", f"strings, {shown}; closed domain")
    if distinct is not None and distinct <= MAX_CATEGORICAL_INTS:
        return Column(name, "categorical", f"integers, {shown} (codes)")
    return Column(name, "numeric", f"integers, {shown}")


def decide(
    statistics: statistics_pb2.DatasetFeatureStatisticsList,
    int_values: statistics_pb2.DatasetFeatureStatisticsList | None,
    label: str,
    task: str | None = None,
    max_domain_values: int = MAX_DOMAIN_VALUES,
) -> Decisions:
    """Decides every column's role and the task (rules in the module docstring).

    Args:
        statistics: Statistics over the training window.
        int_values: The same with integer columns read as categorical (their
            distinct counts); None counts no integer's distinct values.
        label: The label column.
        task: ``--task``, or None to detect it.
        max_domain_values: ``validation.max_domain_values``.

    Returns:
        The decisions.

    Raises:
        DecisionError: If the label cannot be used.
    """
    features = _by_name(statistics)
    counted = _by_name(int_values)

    def distinct(name: str) -> int | None:
        found = counted.get(name)
        return found.string_stats.unique if found and found.HasField("string_stats") else None

    chosen, classes, reason = detect_task(label, features.get(label), distinct(label), task)
    columns = [Column(label, "label", f"{chosen}: {reason}")]
    for name, feature in features.items():
        if name != label:
            columns.append(_decide(name, feature, distinct(name), max_domain_values))
    return Decisions(tuple(columns), chosen, classes, reason)
