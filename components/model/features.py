"""Feature spec: which columns the model uses and how, shared by Transform and Trainer.

The spec travels from the pipeline config into the components through TFX's
``custom_config`` exec property (a JSON-able dict). That keeps ``preprocessing_fn``
and ``run_fn`` free of any file reads, and because exec properties are part of
TFX's cache key, editing the feature config re-runs Transform and Trainer.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

TRANSFORMED_SUFFIX = "_xf"
TASKS = ("binary", "multiclass", "regression")
# num_classes when the config leaves it out; a multiclass task must state it.
_CLASSES_BY_TASK = {"binary": 2, "regression": 1}
# Transformed columns become Keras input and TensorFlow op names, which allow only these.
_VALID_NAME = re.compile(r"^[A-Za-z0-9.][A-Za-z0-9_.\-]*$")


def transformed_name(key: str) -> str:
    """Returns the name Transform gives to the transformed version of ``key``.

    Args:
        key: A raw feature (column) name.

    Returns:
        The transformed feature name.
    """
    return f"{key}{TRANSFORMED_SUFFIX}"


@dataclasses.dataclass(frozen=True)
class FeatureSpec:
    """How each raw column is used.

    Attributes:
        label: The label column: integer class ids ``0..num_classes-1``, or a
            number for ``regression``.
        task: ``binary`` (sigmoid output), ``multiclass`` (softmax output) or
            ``regression`` (one linear output, mean squared error).
        num_classes: Number of classes: 2 for ``binary``, at least 3 (required)
            for ``multiclass``. A regression predicts one number and has no
            classes: it is 1, and any other value is rejected. 0 (the default)
            means "by task" and becomes 2 or 1.
        numeric: Columns z-scored by Transform.
        categorical: Columns mapped through a vocabulary with OOV buckets.
        bucketized: ``(column, num_buckets)`` pairs bucketized on quantiles.
        crosses: Tuples of categorical/bucketized columns crossed in the wide part.
        ignored: Columns present in the data that the model never reads (ids, etc.).
        vocab_top_k: Keep at most this many vocabulary entries per feature.
        oov_buckets: Out-of-vocabulary buckets per categorical feature.
    """

    label: str
    task: str = "binary"
    num_classes: int = 0
    numeric: tuple[str, ...] = ()
    categorical: tuple[str, ...] = ()
    bucketized: tuple[tuple[str, int], ...] = ()
    crosses: tuple[tuple[str, ...], ...] = ()
    ignored: tuple[str, ...] = ()
    vocab_top_k: int = 1000
    oov_buckets: int = 1

    def __post_init__(self) -> None:
        if self.num_classes == 0 and self.task in _CLASSES_BY_TASK:
            # Frozen: the default is filled in once, here.
            object.__setattr__(self, "num_classes", _CLASSES_BY_TASK[self.task])
        problems = list(self._problems())
        if problems:
            raise ValueError("; ".join(problems))

    def _problems(self):  # noqa: ANN202 - private generator of messages
        if self.task not in TASKS:
            yield f"features.task is {self.task!r}, expected one of {', '.join(TASKS)}"
        if self.task == "binary" and self.num_classes != 2:
            yield f"features.num_classes is {self.num_classes}, but a binary task has 2"
        if self.task == "multiclass" and self.num_classes == 0:
            yield "features.num_classes is required for a multiclass task (at least 3)"
        elif self.task == "multiclass" and self.num_classes < 3:
            yield f"features.num_classes is {self.num_classes}, a multiclass task needs at least 3"
        if self.task == "regression" and self.num_classes != 1:
            yield (
                f"features.num_classes is {self.num_classes}, but a regression predicts one "
                "number and has no classes: leave num_classes out"
            )
        if not self.model_features:
            yield "no model features: list columns under numeric, categorical or bucketized"
        seen: dict[str, str] = {}
        groups = {
            "numeric": self.numeric,
            "categorical": self.categorical,
            "bucketized": tuple(name for name, _ in self.bucketized),
            "ignored": self.ignored,
            "label": (self.label,),
        }
        for group, names in groups.items():
            for name in names:
                if name in seen:
                    yield f"column {name!r} is listed both as {seen[name]} and as {group}"
                seen[name] = group
        for name in seen:
            if not _VALID_NAME.match(name):
                yield (
                    f"column {name!r} is not a valid TensorFlow name (use letters, digits, "
                    "'_', '.', '-'; rename the CSV column)"
                )
        for name, buckets in self.bucketized:
            if buckets < 2:
                yield f"bucketized column {name!r} needs at least 2 buckets, got {buckets}"
        crossable = set(self.categorical) | {name for name, _ in self.bucketized}
        for cross in self.crosses:
            if len(cross) < 2:
                yield f"cross {list(cross)} needs at least two columns"
            for name in cross:
                if name not in crossable:
                    yield (
                        f"cross {list(cross)} uses {name!r}, which is not a categorical "
                        "or bucketized column"
                    )
        if self.oov_buckets < 1:
            yield "features.oov_buckets must be at least 1 so unseen values still map somewhere"

    @property
    def model_features(self) -> tuple[str, ...]:
        """Raw columns the model reads, in a stable order (label excluded)."""
        return self.numeric + self.categorical + tuple(name for name, _ in self.bucketized)

    @property
    def output_units(self) -> int:
        """The model's output width: ``num_classes`` for multiclass, else one unit."""
        return self.num_classes if self.task == "multiclass" else 1

    @property
    def transformed_label(self) -> str:
        """Name of the label after Transform."""
        return transformed_name(self.label)

    def to_dict(self) -> dict[str, Any]:
        """Serialises the spec for TFX ``custom_config`` (JSON-able, lists not tuples).

        Returns:
            A dict that :meth:`from_dict` turns back into an equal spec.
        """
        return {
            "label": self.label,
            "task": self.task,
            "num_classes": self.num_classes,
            "numeric": list(self.numeric),
            "categorical": list(self.categorical),
            "bucketized": {name: buckets for name, buckets in self.bucketized},
            "crosses": [list(cross) for cross in self.crosses],
            "ignored": list(self.ignored),
            "vocab_top_k": self.vocab_top_k,
            "oov_buckets": self.oov_buckets,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> FeatureSpec:
        """Builds a spec from the config file's ``features`` section or ``to_dict``.

        Args:
            raw: Mapping with the keys of :meth:`to_dict`; lists may stand for tuples.

        Returns:
            The validated spec.

        Raises:
            ValueError: On unknown keys or an inconsistent spec.
        """
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ValueError(f"unknown features keys {unknown}; known keys are {sorted(known)}")
        if "label" not in raw:
            raise ValueError("features.label is required (the column to predict)")
        bucketized = raw.get("bucketized") or {}
        if not isinstance(bucketized, Mapping):
            raise ValueError("features.bucketized must map column -> number of buckets")
        return cls(
            label=str(raw["label"]),
            task=str(raw.get("task", "binary")),
            num_classes=int(raw.get("num_classes", 0)),
            numeric=tuple(raw.get("numeric") or ()),
            categorical=tuple(raw.get("categorical") or ()),
            bucketized=tuple((str(k), int(v)) for k, v in bucketized.items()),
            crosses=tuple(tuple(c) for c in raw.get("crosses") or ()),
            ignored=tuple(raw.get("ignored") or ()),
            vocab_top_k=int(raw.get("vocab_top_k", 1000)),
            oov_buckets=int(raw.get("oov_buckets", 1)),
        )
