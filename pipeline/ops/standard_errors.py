"""The gate metric's standard error on a sampled evaluation (``evaluation.max_examples``).

A gate judged on a sample reports how uncertain its value is. For the usual binary
gate metrics the standard error has a closed form in numbers TFMA already computes
(the metric, the example count and the mean label), so it costs nothing:

- ``AUC``: Hanley and McNeil (1982), from the AUC and the counts of positives and
  negatives. Exact for exponentially distributed scores; for binormal ones it
  overstates the error (by ~25 % at AUC 0.8 and a 10 % positive rate), so it errs
  on the side of caution;
- ``BinaryAccuracy``: the binomial proportion's, ``sqrt(p (1 - p) / n)``.

Any other gate metric gets TFMA's jackknife (``eval_config`` turns it on only then):
delete-d over 20 partitions of the sample, measured here at several times the
sampled evaluation's own cost, which is why the closed forms come first.

The change against the baseline is judged on the same rows, so the two models'
errors are positively correlated and ``sqrt(se_candidate² + se_baseline²)`` (no
correlation) bounds the change's standard error from above; the summary prints it
as a bound (``≤``). TFMA's jackknife computes the change's error directly.
"""

from __future__ import annotations

import dataclasses
import math

from pipeline.ops.model_gate import metric_values

# TFMA metric class -> the metric key it writes, for the gate metrics with a closed form.
CLOSED_FORM_METRICS = {"AUC": "auc", "BinaryAccuracy": "binary_accuracy"}
# What the closed forms read besides the gate metric itself (eval_config adds it).
MEAN_LABEL = ("MeanLabel", "mean_label")
EXAMPLE_COUNT_KEY = "example_count"
JACKKNIFE = "TFMA jackknife"
_METHODS = {"auc": "Hanley-McNeil", "binary_accuracy": "binomial"}


@dataclasses.dataclass(frozen=True)
class StandardErrors:
    """The gate metric's standard errors on the overall slice.

    Attributes:
        candidate: The candidate's (None when none could be computed).
        change: Candidate minus baseline's (None without a baseline).
        method: How: ``Hanley-McNeil``, ``binomial`` or ``TFMA jackknife``.
        change_is_bound: Whether ``change`` is an upper bound (closed forms) rather
            than an estimate (the jackknife).
    """

    candidate: float | None
    change: float | None
    method: str
    change_is_bound: bool = False


def hanley_mcneil(auc: float, positives: float, negatives: float) -> float | None:
    """The standard error of an AUC (Hanley and McNeil, Radiology 143, 1982).

    Args:
        auc: The area under the ROC curve.
        positives: Positive examples it was computed on.
        negatives: Negative examples it was computed on.

    Returns:
        The standard error, or None when either class is empty (no AUC to speak of).
    """
    if positives < 1 or negatives < 1:
        return None
    q1 = auc / (2 - auc)
    q2 = 2 * auc * auc / (1 + auc)
    variance = (
        auc * (1 - auc) + (positives - 1) * (q1 - auc * auc) + (negatives - 1) * (q2 - auc * auc)
    ) / (positives * negatives)
    return math.sqrt(max(variance, 0.0))


def binomial(proportion: float, examples: float) -> float | None:
    """The standard error of a proportion over ``examples`` independent rows.

    Args:
        proportion: The proportion (e.g. binary accuracy).
        examples: Rows it was computed on.

    Returns:
        ``sqrt(p (1 - p) / n)``, or None for no rows.
    """
    if examples < 1:
        return None
    return math.sqrt(max(proportion * (1 - proportion), 0.0) / examples)


def closed_form(metric_key: str, values: dict[str, float], examples: float) -> float | None:
    """The closed-form standard error of one model's gate metric.

    Args:
        metric_key: TFMA's key of the gate metric (one of :data:`CLOSED_FORM_METRICS`).
        values: The model's overall-slice metrics by key (the gate metric and
            ``mean_label``; ``example_count`` if computed).
        examples: Rows evaluated, when TFMA wrote no ``example_count``.

    Returns:
        The standard error, or None when the metrics it needs are missing.
    """
    value = values.get(metric_key)
    count = values.get(EXAMPLE_COUNT_KEY, examples)
    if value is None or math.isnan(value):
        return None
    if metric_key == "binary_accuracy":
        return binomial(value, count)
    mean_label = values.get(MEAN_LABEL[1])
    if mean_label is None:
        return None
    return hanley_mcneil(value, mean_label * count, (1 - mean_label) * count)


def standard_errors(evaluation_uri: str, metric_key: str, examples: int) -> StandardErrors:
    """The gate metric's standard errors for a sampled evaluation's overall slice.

    Args:
        evaluation_uri: The Evaluator's ``evaluation`` artifact URI.
        metric_key: TFMA's key of the gate metric (e.g. ``auc``).
        examples: Rows in the sample.

    Returns:
        Closed-form errors for :data:`CLOSED_FORM_METRICS`, else the jackknife's
        TFMA wrote (None where it wrote none).
    """
    if metric_key in _METHODS:
        overall = metric_values(evaluation_uri).get((), {})
        models: dict[str, dict[str, float]] = {}
        for key, value in overall.items():
            if not key.is_diff:
                models.setdefault(key.model_name, {})[key.name] = value
        baseline = models.pop("baseline", None)
        # The candidate is TFMA's only other model ("candidate", or "" alone).
        candidate = next(iter(models.values()), {})
        error = closed_form(metric_key, candidate, examples)
        base_error = None if baseline is None else closed_form(metric_key, baseline, examples)
        change = None if error is None or base_error is None else math.hypot(error, base_error)
        return StandardErrors(error, change, _METHODS[metric_key], change_is_bound=True)
    import tensorflow_model_analysis as tfma  # heavy; only needed with a sample

    candidate_error = change_error = None
    for slice_metrics in tfma.load_metrics(evaluation_uri):
        if tfma.slicer.deserialize_slice_key(slice_metrics.slice_key) != ():
            continue
        for kv in slice_metrics.metric_keys_and_values:
            key = tfma.metrics.MetricKey.from_proto(kv.key)
            interval = kv.confidence_interval
            if key.name != metric_key or not interval.HasField("standard_error"):
                continue
            error = interval.standard_error.double_value.value
            if key.is_diff:
                change_error = error
            elif key.model_name != "baseline":
                candidate_error = error
    return StandardErrors(candidate_error, change_error, JACKKNIFE)
