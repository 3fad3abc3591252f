"""The ``evaluation`` section as written: metrics, the gate's direction and thresholds.

Which way a metric is better decides what its thresholds mean: a floor and a
tolerance below the baseline for AUC, a ceiling and a tolerance above the baseline
for a mean squared error. The direction comes from the metric's class name
(:data:`METRIC_DIRECTIONS`), or from ``evaluation.direction`` for a metric this
table does not know. Kept free of TFMA (the config is loaded where TFX is not).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    Field,
    Strict,
    ValidationInfo,
    field_validator,
    model_validator,
)

from components.model.features import FeatureSpec
from pipeline.config.fields import (
    FORBID_UNKNOWN,
    Count,
    Number,
    Text,
    Tolerance,
    empty_if_null,
    expect,
)
from pipeline.config.sections import EvaluationConfig, MinImprovement, SliceThreshold

HIGHER = "higher"
LOWER = "lower"

# TFMA and Keras metric class names -> which way is better (TFMA's MetricDirection
# HIGHER_IS_BETTER / LOWER_IS_BETTER). TFMA itself keeps no such table: a change
# threshold states its direction. Counts and means (ExampleCount, MeanLabel,
# MeanPrediction, Calibration) have no better way; gating on them needs an explicit
# evaluation.direction.
_HIGHER_IS_BETTER = (
    "AUC",
    "AUCPrecisionRecall",
    "Accuracy",
    "BalancedAccuracy",
    "BinaryAccuracy",
    "CategoricalAccuracy",
    "F1Score",
    "Informedness",
    "Markedness",
    "MatthewsCorrelationCoefficient",
    "NDCG",
    "NegativePredictiveValue",
    "Precision",
    "PrecisionAtRecall",
    "Recall",
    "RecallAtPrecision",
    "SensitivityAtSpecificity",
    "SparseCategoricalAccuracy",
    "SparseTopKCategoricalAccuracy",
    "Specificity",
    "SpecificityAtSensitivity",
    "TopKCategoricalAccuracy",
)
_LOWER_IS_BETTER = (
    "BinaryCrossentropy",
    "CategoricalCrossentropy",
    "CategoricalHinge",
    "FallOut",
    "FalseDiscoveryRate",
    "FalseOmissionRate",
    "Hinge",
    "KLDivergence",
    "LogCoshError",
    "MeanAbsoluteError",
    "MeanAbsolutePercentageError",
    "MeanSquaredError",
    "MeanSquaredLogarithmicError",
    "MinLabelPosition",
    "MissRate",
    "Poisson",
    "RootMeanSquaredError",
    "SparseCategoricalCrossentropy",
    "SquaredHinge",
)
METRIC_DIRECTIONS: Mapping[str, str] = {
    **{name: HIGHER for name in _HIGHER_IS_BETTER},
    **{name: LOWER for name in _LOWER_IS_BETTER},
}
# Error metrics a regression model is judged by; the other known metrics read the
# label as classes.
REGRESSION_METRICS = frozenset(
    {
        "LogCoshError",
        "MeanAbsoluteError",
        "MeanAbsolutePercentageError",
        "MeanSquaredError",
        "MeanSquaredLogarithmicError",
        "Poisson",
        "RootMeanSquaredError",
    }
)

# evaluation.slices: `device` is short for `[device]`.
SliceKeys = Annotated[
    tuple[Text, ...],
    BeforeValidator(lambda keys: (keys,) if isinstance(keys, str) else keys),
    expect("a column or a list of columns"),
]
SliceValue = Annotated[
    Annotated[str, Strict()] | Annotated[int, Strict()] | None,
    # TFMA slices by exact value: a float or a YAML boolean is almost always a
    # mistake (quote the value if a column really holds "true").
    expect("null or a string or integer value"),
]

# min_improvement: a gain, never 0 (that is max_regression: 0, "not worse").
Gain = Annotated[
    float,
    Strict(),
    Field(gt=0, allow_inf_nan=False),
    expect("a finite number > 0 (a gain over the baseline; for 'not worse' use max_regression: 0)"),
]


class MinImprovementEntry(BaseModel):
    """``min_improvement`` as written: ``{absolute: 0.01}``, ``{relative: 0.01}`` or both."""

    model_config = FORBID_UNKNOWN

    # At least one: checked by threshold_problems, which knows the entry's key.
    absolute: Gain | None = None
    relative: Gain | None = None

    def typed(self) -> MinImprovement:
        """Returns the frozen demand."""
        return MinImprovement(absolute=self.absolute, relative=self.relative)


Improvement = Annotated[
    MinImprovementEntry | None,
    expect("a mapping like {absolute: 0.01} or {relative: 0.01}"),
]


def threshold_problems(
    where: str,
    metric: str,
    direction: str,
    bounds: tuple[float | None, float | None],
    max_regression: float | None,
    min_improvement: MinImprovementEntry | None,
) -> Iterator[str]:
    """What is wrong with one threshold (overall or one slice's) for the metric's direction.

    Args:
        where: The threshold's key, e.g. ``evaluation`` or ``evaluation.slice_thresholds[0]``.
        metric: The gate metric's class name.
        direction: ``higher`` or ``lower``.
        bounds: ``(lower_bound, upper_bound)`` as written.
        max_regression: The tolerance as written.
        min_improvement: The demanded gain as written.

    Yields:
        One sentence per problem.
    """
    lower_bound, upper_bound = bounds
    if direction == HIGHER and upper_bound is not None:
        yield (
            f"{where}.upper_bound is set, but {metric} is higher-is-better: a ceiling would "
            "reject better models; use lower_bound (the least acceptable value)"
        )
    if direction == LOWER and lower_bound is not None:
        yield (
            f"{where}.lower_bound is set, but {metric} is lower-is-better: a floor would "
            "reject better models; use upper_bound (the largest acceptable value)"
        )
    if min_improvement is not None and min_improvement.typed() == MinImprovement():
        yield (
            f"{where}.min_improvement needs absolute (in the metric's units) or relative "
            "(a fraction of the baseline's value), e.g. {absolute: 0.01} or {relative: 0.01}"
        )
    if max_regression is not None and min_improvement is not None:
        yield (
            f"{where} sets both max_regression and min_improvement, which exclude each "
            "other: max_regression tolerates a model worse than the baseline, "
            "min_improvement demands a better one; keep one"
        )


def metric_direction(metric: str, explicit: str | None) -> str:
    """Which way the gate metric is better.

    Args:
        metric: The gate metric's class name.
        explicit: ``evaluation.direction`` as written (None: not written).

    Returns:
        ``higher`` or ``lower``.

    Raises:
        ValueError: For a metric of unknown direction without ``evaluation.direction``,
            or a direction that contradicts the metric's.
    """
    known = METRIC_DIRECTIONS.get(metric)
    if known is None and explicit is None:
        raise ValueError(
            f"evaluation.gate_metric {metric!r} has no known direction: set "
            "evaluation.direction to higher (larger is better, like AUC) or lower "
            "(smaller is better, like MeanSquaredError)"
        )
    if known is not None and explicit is not None and explicit != known:
        raise ValueError(
            f"evaluation.direction is {explicit!r}, but {metric} is {known}-is-better; "
            "remove evaluation.direction"
        )
    return explicit or known  # type: ignore[return-value]


class SliceThresholdEntry(BaseModel):
    """One ``evaluation.slice_thresholds`` entry as written."""

    model_config = FORBID_UNKNOWN

    slice: Annotated[
        dict[str, SliceValue],
        Field(min_length=1),
        expect(
            "a non-empty mapping of column to null (every value of the column) "
            "or to one value, e.g. {device: null} or {device: mobile}"
        ),
    ] = Field(default_factory=dict, validate_default=True)
    lower_bound: Number | None = None
    upper_bound: Number | None = None
    max_regression: Tolerance | None = None
    min_improvement: Improvement = None

    def threshold(self) -> SliceThreshold:
        """Returns the typed threshold (columns sliced by every value, fixed values)."""
        return SliceThreshold(
            columns=tuple(column for column, value in self.slice.items() if value is None),
            values=tuple((c, str(v)) for c, v in self.slice.items() if v is not None),
            lower_bound=self.lower_bound,
            max_regression=self.max_regression,
            upper_bound=self.upper_bound,
            min_improvement=self.min_improvement.typed() if self.min_improvement else None,
        )


SliceEntry = Annotated[
    SliceThresholdEntry,
    expect("a mapping with slice and lower_bound/upper_bound/max_regression/min_improvement"),
]


class EvaluationSection(BaseModel):
    """The ``evaluation`` section as written."""

    model_config = FORBID_UNKNOWN

    metrics: Annotated[tuple[Text, ...], expect("a list of metric names")]
    gate_metric: Text
    direction: Annotated[
        Literal["higher", "lower"] | None,
        expect("higher or lower (which way gate_metric is better)"),
    ] = None
    lower_bound: Number | None = None
    upper_bound: Number | None = None
    # None when not written: 0.0 ("not worse") unless min_improvement is set.
    max_regression: Tolerance | None = None
    min_improvement: Improvement = None
    slices: Annotated[tuple[SliceKeys, ...], empty_if_null(()), expect("a list")] = ()
    slice_thresholds: Annotated[
        tuple[SliceEntry, ...],
        empty_if_null(()),
        expect(
            "a list of entries like {slice: {device: null}, lower_bound: 0.6, max_regression: 0.02}"
        ),
    ] = ()
    # A seeded sample of the eval split (components/eval_sample.py); null: every row.
    max_examples: Count | None = None

    @field_validator("gate_metric")
    @classmethod
    def _gate_metric_is_computed(cls, gate: str, info: ValidationInfo) -> str:
        if "metrics" in info.data and gate not in info.data["metrics"]:
            raise ValueError(f"evaluation.gate_metric {gate!r} is not in evaluation.metrics")
        return gate

    @property
    def resolved_direction(self) -> str:
        """``higher`` or ``lower`` (valid once the model validated)."""
        return metric_direction(self.gate_metric, self.direction)

    @model_validator(mode="after")
    def _thresholds_fit_the_direction(self) -> EvaluationSection:
        direction = metric_direction(self.gate_metric, self.direction)
        bound = "lower_bound" if direction == HIGHER else "upper_bound"
        problems = list(
            threshold_problems(
                "evaluation",
                self.gate_metric,
                direction,
                (self.lower_bound, self.upper_bound),
                self.max_regression,
                self.min_improvement,
            )
        )
        if getattr(self, bound) is None and not problems:
            problems.append(
                f"evaluation.{bound} is required: {self.gate_metric} is {direction}-is-better, "
                f"and its {'floor' if direction == HIGHER else 'ceiling'} is what gates the "
                "first model (which has no baseline to compare with)"
            )
        problems += self._slice_problems(direction, bound)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _slice_problems(self, direction: str, bound: str) -> Iterator[str]:
        seen: set[tuple[frozenset[str], frozenset[tuple[str, str]]]] = set()
        for index, entry in enumerate(self.slice_thresholds):
            threshold = entry.threshold()
            where = f"evaluation.slice_thresholds[{index}]"
            yield from threshold_problems(
                where,
                self.gate_metric,
                direction,
                (entry.lower_bound, entry.upper_bound),
                entry.max_regression,
                entry.min_improvement,
            )
            checks = (getattr(entry, bound), entry.max_regression, entry.min_improvement)
            if all(check is None for check in checks):
                yield (
                    f"{where} (slice {threshold.name}) needs {bound}, max_regression "
                    "or min_improvement"
                )
            key = (frozenset(threshold.columns), frozenset(threshold.values))
            if key in seen:
                yield (
                    f"{where} repeats the slice {threshold.name}; put its thresholds in one entry"
                )
            seen.add(key)

    def check_columns(self, features: FeatureSpec) -> None:
        """Checks the section against the features.

        Args:
            features: The features section.

        Raises:
            ValueError: If a slice names a column the features do not configure, or
                the gate metric reads classes but the task is a regression.
        """
        if features.task == "regression" and self.gate_metric in (
            set(METRIC_DIRECTIONS) - REGRESSION_METRICS
        ):
            raise ValueError(
                f"evaluation.gate_metric {self.gate_metric!r} reads the label as classes, "
                "but features.task is regression; gate on an error metric such as "
                "MeanSquaredError or MeanAbsoluteError"
            )
        known = {*features.model_features, features.label, *features.ignored}
        for keys in self.slices:
            for key in keys:
                if key not in known:
                    raise ValueError(
                        f"evaluation.slices uses {key!r}, which is not a configured column"
                    )
        for index, entry in enumerate(self.slice_thresholds):
            for column in entry.slice:
                if column not in known:
                    raise ValueError(
                        f"evaluation.slice_thresholds[{index}].slice uses {column!r}, which is "
                        "not a configured column"
                    )

    def typed(self) -> EvaluationConfig:
        """Returns the frozen evaluation section."""
        tolerance = self.max_regression
        if tolerance is None and self.min_improvement is None:
            tolerance = 0.0
        return EvaluationConfig(
            metrics=self.metrics,
            gate_metric=self.gate_metric,
            lower_bound=self.lower_bound,
            max_regression=tolerance,
            slices=self.slices,
            slice_thresholds=tuple(entry.threshold() for entry in self.slice_thresholds),
            direction=self.resolved_direction,
            upper_bound=self.upper_bound,
            min_improvement=self.min_improvement.typed() if self.min_improvement else None,
            max_examples=self.max_examples,
        )
