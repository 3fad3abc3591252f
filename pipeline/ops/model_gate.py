"""Why the Evaluator did or did not bless a model, read with TFMA's own loaders.

Values come from the metrics TFMA wrote, thresholds from the eval config TFMA stored
with them (after TFX dropped the change threshold when there was no baseline), and
each check's verdict from TFMA's validation result, so what is reported is what was
actually applied rather than what the YAML asks for.

TFMA is imported inside the functions that need it: it is heavy, and light code (the
CLI before a run, Airflow DAG parsing) imports the run summary, which imports this.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from collections.abc import Iterator, Mapping
from typing import Any

from google.protobuf import text_format

# A slice as ``tfma.slicer.deserialize_slice_key`` returns it: ((column, value), ...),
# () for the overall slice.
SliceKey = tuple[tuple[str, Any], ...]


@dataclasses.dataclass(frozen=True)
class SliceCheck:
    """One per-slice threshold on one slice, as TFMA applied and judged it.

    Attributes:
        slice: The slice TFMA computed, e.g. ``device=tablet``.
        spec: The threshold's slicing spec, e.g. ``device=*`` (every device) or
            ``device=tablet``; one slice can be checked by several specs.
        value: The candidate's value on the slice (None if TFMA has none).
        lower_bound: The value threshold's lower bound (None if it has none).
        upper_bound: The value threshold's upper bound (None if it has none).
        value_passed: Whether the value check passed (None: no value threshold).
        baseline_value: The baseline model's value on the slice (None without one).
        change: Candidate minus baseline on the slice (None without baseline).
        allowed_change: The change threshold's absolute bound (None: no change
            threshold applied, e.g. for the first model, or a relative one only).
        higher_is_better: The change threshold's direction.
        change_passed: Whether the change check passed (None: no change threshold).
        example_count: The slice's examples, when ``ExampleCount`` is computed.
        allowed_relative: The change threshold's relative bound, a fraction of the
            baseline's value (None: none).
    """

    slice: str
    spec: str
    value: float | None
    lower_bound: float | None = None
    upper_bound: float | None = None
    value_passed: bool | None = None
    baseline_value: float | None = None
    change: float | None = None
    allowed_change: float | None = None
    higher_is_better: bool = True
    change_passed: bool | None = None
    example_count: float | None = None
    allowed_relative: float | None = None

    @property
    def passed(self) -> bool:
        """False if TFMA failed the value or the change check on this slice."""
        return self.value_passed is not False and self.change_passed is not False


@dataclasses.dataclass(frozen=True)
class ModelGate:
    """The Evaluator's blessing decision on its gate metric, as TFMA recorded it.

    Attributes:
        metric: The metric's class name in the eval config (e.g. ``AUC``).
        metric_key: TFMA's name for its value (e.g. ``auc``).
        value: The candidate's value on the overall slice (None if TFMA has none).
        lower_bound: The value threshold's lower bound (None if it has none).
        value_passed: Whether the value check passed (None: no value threshold).
        baseline_value: The baseline model's value (None on the first model).
        change: Candidate minus baseline, TFMA's diff metric (None without baseline).
        allowed_change: The change threshold's absolute bound (None when TFMA
            applied no change threshold, e.g. for the first model).
        change_passed: Whether the change check passed (None: no change threshold).
        blessed: Whether the Evaluator blessed the model (its ModelBlessing).
        upper_bound: The value threshold's upper bound (None if it has none).
        higher_is_better: The change threshold's direction.
        failures: TFMA's validation failures, one line each: the metric key, value
            and threshold TFMA recorded, and its message when it wrote one (TFMA
            leaves the message empty for a plain threshold violation).
        slices: The per-slice thresholds' checks (``evaluation.slice_thresholds``),
            one per computed slice and threshold spec, in slice order.
        allowed_relative: The change threshold's relative bound, a fraction of the
            baseline's value (None: none).
    """

    metric: str
    metric_key: str
    value: float | None
    lower_bound: float | None
    value_passed: bool | None
    baseline_value: float | None = None
    change: float | None = None
    allowed_change: float | None = None
    change_passed: bool | None = None
    blessed: bool | None = None
    upper_bound: float | None = None
    higher_is_better: bool = True
    failures: tuple[str, ...] = ()
    slices: tuple[SliceCheck, ...] = ()
    allowed_relative: float | None = None


@dataclasses.dataclass(frozen=True)
class SliceMetrics:
    """The candidate's metrics on one slice.

    Attributes:
        name: ``overall`` or ``column=value, ...``.
        metrics: Metric name -> value (candidate only; no baseline or diffs).
    """

    name: str
    metrics: Mapping[str, float]


# ----------------------------------------------------------------------- TFMA output


def slice_text(slice_key: SliceKey) -> str:
    """Names a slice as the summary and the report show it.

    Args:
        slice_key: The slice, as ``tfma.slicer.deserialize_slice_key`` returns it.

    Returns:
        ``column=value, ...``, or ``overall`` for the overall slice.
    """
    return ", ".join(f"{column}={value}" for column, value in slice_key) or "overall"


def metric_values(evaluation_uri: str) -> dict[SliceKey, dict[Any, float]]:
    """Loads every double-valued metric TFMA wrote, by slice and ``MetricKey``.

    Args:
        evaluation_uri: The Evaluator's ``evaluation`` artifact URI.

    Returns:
        Slice key -> ``tfma.metrics.MetricKey`` (candidate, baseline and diff keys
        alike) -> value.
    """
    import tensorflow_model_analysis as tfma  # heavy; only needed when there are metrics

    sliced: dict[SliceKey, dict[Any, float]] = {}
    for slice_metrics in tfma.load_metrics(evaluation_uri):
        values = sliced.setdefault(tfma.slicer.deserialize_slice_key(slice_metrics.slice_key), {})
        for kv in slice_metrics.metric_keys_and_values:
            if kv.value.HasField("double_value"):
                values[tfma.metrics.MetricKey.from_proto(kv.key)] = kv.value.double_value.value
    return sliced


# components.eval_sample's record of TFMA's metrics on the ModelEvaluation artifact
# (not imported: that module imports TFX), and TFX's name for the baseline model.
METRICS_PROPERTY = "metrics"
BASELINE_MODEL = "baseline"


def recorded_metrics(evaluation: Any) -> dict[str, dict[str, dict[str, float]]] | None:
    """The metrics the Evaluator recorded on its ModelEvaluation artifact.

    ``components.eval_sample.record_metrics`` writes them from TFMA's output, so a
    reader gets them from ML Metadata without TFMA's import.

    Args:
        evaluation: A ModelEvaluation artifact (an MLMD ``Artifact`` proto).

    Returns:
        ``candidate``/``baseline`` -> slice name (:func:`slice_text`) -> metric name
        -> value; None for an evaluation recorded before the property existed.
    """
    recorded = evaluation.custom_properties.get(METRICS_PROPERTY)
    if recorded is None or not recorded.string_value:
        return None
    found: dict[str, dict[str, dict[str, float]]] = {"candidate": {}, "baseline": {}}
    for model, slices in json.loads(recorded.string_value).items():
        for columns, metrics in slices:
            name = slice_text(tuple((column, value) for column, value in columns))
            found.setdefault(model, {})[name] = {k: float(v) for k, v in metrics.items()}
    return found


def overall_metrics(evaluation_uri: str) -> dict[str, float]:
    """Loads the overall-slice metrics TFMA wrote for the candidate model.

    Args:
        evaluation_uri: The Evaluator's ``evaluation`` artifact URI.

    Returns:
        Metric name -> value (diffs against the baseline are left out).
    """
    overall = metric_values(evaluation_uri).get((), {})
    return {
        key.name: value
        for key, value in overall.items()
        if not key.is_diff and key.model_name != "baseline"
    }


def slice_metrics(evaluation_uri: str) -> tuple[list[SliceMetrics], dict[str, float]]:
    """Loads TFMA's metrics per slice for the candidate, and the baseline's overall.

    Args:
        evaluation_uri: The Evaluator's ``evaluation`` artifact URI.

    Returns:
        The candidate's slices (``overall`` first, then by name) and the baseline
        model's overall-slice metrics (empty without a baseline).
    """
    import tensorflow_model_analysis as tfma

    eval_config = tfma.writers.eval_config_writer.load_eval_run(evaluation_uri)[0]
    baselines = {m.name for m in eval_config.model_specs if m.is_baseline}
    slices: dict[str, dict[str, float]] = {}
    baseline: dict[str, float] = {}
    for slice_key, values in metric_values(evaluation_uri).items():
        name = slice_text(slice_key)
        for key, value in values.items():
            if key.is_diff:
                continue
            if key.model_name not in baselines:
                slices.setdefault(name, {})[key.name] = value
            elif name == "overall":
                baseline[key.name] = value
    ordered = sorted(slices, key=lambda n: (n != "overall", n))
    return [SliceMetrics(n, dict(sorted(slices[n].items()))) for n in ordered], baseline


# ------------------------------------------------------------------------ thresholds


def _bound(threshold: Any, field: str) -> float | None:
    """A TFMA threshold's bound (``lower_bound``, ``upper_bound``, ``absolute``), if set.

    Args:
        threshold: A ``GenericValueThreshold`` or ``GenericChangeThreshold``, or None.
        field: The bound's field name.

    Returns:
        The bound's value, or None when there is no threshold or the field is unset.
    """
    if threshold is None or not threshold.HasField(field):
        return None
    return getattr(threshold, field).value


def _higher_is_better(change_threshold: Any, value_threshold: Any = None) -> bool:
    """The gate metric's direction, from the thresholds TFMA applied.

    The change threshold states it; without one (the first model, where TFX
    dropped it) a value threshold with only an upper bound means lower is better.

    Args:
        change_threshold: A ``GenericChangeThreshold``, or None.
        value_threshold: A ``GenericValueThreshold``, or None.

    Returns:
        False for a lower-is-better metric.
    """
    import tensorflow_model_analysis as tfma

    if change_threshold is not None:
        return bool(change_threshold.direction != tfma.MetricDirection.LOWER_IS_BETTER)
    return not (
        _bound(value_threshold, "upper_bound") is not None
        and _bound(value_threshold, "lower_bound") is None
    )


def _metric_thresholds(eval_config: Any) -> Iterator[tuple[Any, dict[Any, Any]]]:
    """Each metric config of the eval config with the thresholds TFMA derives for it.

    Goes through TFMA's own config -> ``MetricKey`` mapping one metric config at a
    time, to keep the config's class name (``AUC``) next to the key (``auc``).

    Args:
        eval_config: The ``tfma.EvalConfig`` TFMA stored with its results.

    Yields:
        ``(metric config, MetricKey -> [(slicing spec or None, threshold), ...])``.
    """
    import tensorflow_model_analysis as tfma

    for spec in eval_config.metrics_specs:
        for metric_config in spec.metrics:
            single = tfma.MetricsSpec()
            single.CopyFrom(spec)
            del single.metrics[:]
            single.metrics.append(metric_config)
            yield (
                metric_config,
                tfma.metrics.metric_thresholds_from_metrics_specs(
                    [single], eval_config=eval_config
                ),
            )


def _overall_thresholds(eval_config: Any, candidate: str) -> tuple[str, Any, Any, Any] | None:
    """The first metric with a threshold on the overall slice, as TFMA applies it.

    Args:
        eval_config: The ``tfma.EvalConfig`` TFMA stored with its results.
        candidate: The candidate's model name in it (``""`` for a single model).

    Returns:
        ``(class name, value MetricKey, GenericValueThreshold or None,
        GenericChangeThreshold or None)``, or None if no threshold is on the
        overall slice.
    """
    import tensorflow_model_analysis as tfma

    overall = tfma.SlicingSpec()
    for metric_config, thresholds in _metric_thresholds(eval_config):
        value_key = value_threshold = change_threshold = None
        for key, per_slice in thresholds.items():
            if key.model_name != candidate:
                continue
            for slice_spec, threshold in per_slice:
                if slice_spec is not None and slice_spec != overall:
                    continue
                value_key = key._replace(is_diff=False)
                if key.is_diff:
                    change_threshold = threshold
                else:
                    value_threshold = threshold
        if value_key is not None:
            return metric_config.class_name, value_key, value_threshold, change_threshold
    return None


def _spec_name(spec: Any) -> str:
    """``device=*`` for ``feature_keys``, ``device=mobile`` for ``feature_values``."""
    parts = [f"{column}=*" for column in spec.feature_keys]
    parts += [f"{column}={value}" for column, value in sorted(spec.feature_values.items())]
    return ", ".join(parts) or "overall"


@dataclasses.dataclass(frozen=True)
class _SliceThresholds:
    """One slicing spec's thresholds on the gate metric (other than overall)."""

    spec: Any  # the tfma.SlicingSpec
    key: Any  # the value MetricKey
    value: tuple[Any, ...]  # GenericValueThresholds
    change: tuple[Any, ...]  # GenericChangeThresholds


def _slice_thresholds(
    eval_config: Any, class_name: str, candidate: str
) -> dict[Any, _SliceThresholds]:
    """The gate metric's thresholds on slices other than overall, by slicing spec.

    Args:
        eval_config: The ``tfma.EvalConfig`` TFMA stored with its results.
        class_name: The gate metric's class name (other metrics are left out).
        candidate: The candidate's model name in it.

    Returns:
        ``tfma.slicer.SingleSliceSpec`` (hashable) -> that spec's thresholds.
    """
    import tensorflow_model_analysis as tfma

    overall = tfma.SlicingSpec()
    found: dict[Any, tuple[Any, Any, list[Any], list[Any]]] = {}
    for metric_config, thresholds in _metric_thresholds(eval_config):
        if metric_config.class_name != class_name:
            continue
        for key, per_slice in thresholds.items():
            if key.model_name != candidate:
                continue
            for slice_spec, threshold in per_slice:
                if not isinstance(slice_spec, tfma.SlicingSpec) or slice_spec == overall:
                    continue
                entry = found.setdefault(
                    tfma.slicer.SingleSliceSpec(spec=slice_spec),
                    (slice_spec, key._replace(is_diff=False), [], []),
                )
                entry[3 if key.is_diff else 2].append(threshold)
    return {
        hashable: _SliceThresholds(spec, key, tuple(value), tuple(change))
        for hashable, (spec, key, value, change) in found.items()
    }


def _slice_checks(
    eval_config: Any,
    class_name: str,
    candidate: str,
    baseline: str | None,
    sliced_values: Mapping[SliceKey, Mapping[Any, float]],
    failures: Mapping[SliceKey, list[Any]],
) -> tuple[SliceCheck, ...]:
    """The checks of every threshold on a slice other than overall.

    Thresholds come from the eval config TFMA stored, matched to the slices TFMA
    computed with TFMA's own ``SingleSliceSpec.is_slice_applicable``; a check
    failed when TFMA recorded a failure with the same metric key and threshold
    on that slice.

    Args:
        eval_config: The ``tfma.EvalConfig`` TFMA stored with its results.
        class_name: The gate metric's class name.
        candidate: The candidate's model name in it.
        baseline: The baseline's model name, None without a baseline.
        sliced_values: Slice key -> MetricKey -> value (:func:`metric_values`).
        failures: Slice key -> TFMA's ``ValidationFailure`` protos on it.

    Returns:
        The checks, by slice and then threshold spec.
    """
    by_spec = _slice_thresholds(eval_config, class_name, candidate)
    checks: list[SliceCheck] = []
    for slice_key in sorted(sliced_values, key=lambda k: [(c, str(v)) for c, v in k]):
        if not slice_key:
            continue
        for hashable, thresholds in by_spec.items():
            if not hashable.is_slice_applicable(slice_key):
                continue
            for value_threshold, change_threshold in itertools.zip_longest(
                thresholds.value, thresholds.change
            ):
                checks.append(
                    _slice_check(
                        slice_key,
                        thresholds,
                        baseline,
                        sliced_values[slice_key],
                        value_threshold,
                        change_threshold,
                        failures.get(slice_key, []),
                    )
                )
    return tuple(checks)


def _slice_check(
    slice_key: SliceKey,
    thresholds: _SliceThresholds,
    baseline: str | None,
    values: Mapping[Any, float],
    value_threshold: Any,
    change_threshold: Any,
    failures: list[Any],
) -> SliceCheck:
    """One slice's check against one slicing spec's value and change thresholds."""
    import tensorflow_model_analysis as tfma

    def verdict(threshold: Any, checked: Any, field: str) -> bool | None:
        if threshold is None:
            return None
        return not any(
            tfma.metrics.MetricKey.from_proto(failure.metric_key) == checked
            and getattr(failure.metric_threshold, field) == threshold
            for failure in failures
        )

    key = thresholds.key
    diff_key = key.make_diff_key()
    count_key = key._replace(name="example_count", sub_key=None)
    return SliceCheck(
        slice=slice_text(slice_key),
        spec=_spec_name(thresholds.spec),
        value=values.get(key),
        lower_bound=_bound(value_threshold, "lower_bound"),
        upper_bound=_bound(value_threshold, "upper_bound"),
        value_passed=verdict(value_threshold, key, "value_threshold"),
        baseline_value=(None if baseline is None else values.get(key.make_baseline_key(baseline))),
        change=values.get(diff_key) if baseline is not None else None,
        allowed_change=_bound(change_threshold, "absolute"),
        allowed_relative=_bound(change_threshold, "relative"),
        higher_is_better=_higher_is_better(change_threshold, value_threshold),
        change_passed=verdict(change_threshold, diff_key, "change_threshold"),
        example_count=values.get(count_key),
    )


# ------------------------------------------------------------------------ validation


def _describe_failure(failure: Any, slice_name: str) -> str:
    """One line for a TFMA ``ValidationFailure``: what TFMA recorded, in its words."""
    key = failure.metric_key
    model = key.model_name or "candidate"
    which = f"{model}, change vs baseline" if key.is_diff else model
    text = f"{slice_name} slice: {key.name} ({which})"
    if failure.metric_value.HasField("double_value"):
        text += f" = {failure.metric_value.double_value.value:.4f}"
    threshold = text_format.MessageToString(failure.metric_threshold, as_one_line=True)
    if threshold:
        text += f" violates {threshold}"
    if failure.message.strip():
        text += f": {' '.join(failure.message.split())}"
    return text


@dataclasses.dataclass(frozen=True)
class _Validation:
    """TFMA's validation result, sorted for the gate.

    Attributes:
        failed: The MetricKeys that failed a check on the overall slice.
        failures: Every failure (and every threshold spec no slice matched), one line.
        by_slice: Slice key -> the ``ValidationFailure`` protos on that slice.
    """

    failed: frozenset[Any]
    failures: tuple[str, ...]
    by_slice: Mapping[SliceKey, list[Any]]


def _validation(evaluation_uri: str) -> _Validation:
    """Reads TFMA's validation result next to the metrics."""
    import tensorflow_model_analysis as tfma

    result = tfma.load_validation_result(evaluation_uri)
    failed: set[Any] = set()
    failures: list[str] = []
    by_slice: dict[SliceKey, list[Any]] = {}
    for per_slice in result.metric_validations_per_slice:
        cross = per_slice.HasField("cross_slice_key")
        slice_key = () if cross else tfma.slicer.deserialize_slice_key(per_slice.slice_key)
        name = "cross" if cross else slice_text(slice_key)
        if not cross and slice_key:
            by_slice.setdefault(slice_key, []).extend(per_slice.failures)
        for failure in per_slice.failures:
            if not cross and not slice_key:
                failed.add(tfma.metrics.MetricKey.from_proto(failure.metric_key))
            failures.append(_describe_failure(failure, name))
    for spec in result.missing_slices:
        spec_text = text_format.MessageToString(spec, as_one_line=True) or "{} (overall)"
        failures.append(f"no slice matched the slicing spec {spec_text} of a threshold")
    return _Validation(frozenset(failed), tuple(failures), by_slice)


def model_gate(evaluation_uri: str, blessed: bool | None) -> ModelGate | None:
    """Reads why the Evaluator did or did not bless the model, with TFMA's loaders.

    The gate metric is the first metric with a threshold on the overall slice in the
    eval config TFMA stored with its results; its thresholds are the ones TFMA
    applied (TFX drops the change threshold when there is no baseline). Values come
    from ``tfma.load_metrics``; verdicts from ``tfma.load_validation_result``. The
    same metric's thresholds on other slices (``evaluation.slice_thresholds``) become
    one :class:`SliceCheck` per slice TFMA computed and threshold spec matching it,
    judged by the failures TFMA recorded on that slice.

    Args:
        evaluation_uri: The Evaluator's ``evaluation`` artifact URI.
        blessed: Whether the Evaluator blessed the model (its ModelBlessing).

    Returns:
        The gate, or None if TFMA applied no threshold on the overall slice.
    """
    import tensorflow_model_analysis as tfma  # heavy; only needed when there are metrics

    eval_config = tfma.writers.eval_config_writer.load_eval_run(evaluation_uri)[0]
    candidate = next((m.name for m in eval_config.model_specs if not m.is_baseline), "")
    baseline = next((m.name for m in eval_config.model_specs if m.is_baseline), None)
    found = _overall_thresholds(eval_config, candidate)
    if found is None:
        return None
    class_name, key, value_threshold, change_threshold = found

    sliced_values = metric_values(evaluation_uri)
    values = sliced_values.get((), {})
    diff_key = key.make_diff_key()
    validation = _validation(evaluation_uri)

    def verdict(threshold: Any, checked: Any) -> bool | None:
        return None if threshold is None else checked not in validation.failed

    return ModelGate(
        metric=class_name or key.name,
        metric_key=key.name,
        value=values.get(key),
        lower_bound=_bound(value_threshold, "lower_bound"),
        upper_bound=_bound(value_threshold, "upper_bound"),
        value_passed=verdict(value_threshold, key),
        baseline_value=(None if baseline is None else values.get(key.make_baseline_key(baseline))),
        change=values.get(diff_key) if baseline is not None else None,
        allowed_change=_bound(change_threshold, "absolute"),
        allowed_relative=_bound(change_threshold, "relative"),
        higher_is_better=_higher_is_better(change_threshold, value_threshold),
        change_passed=verdict(change_threshold, diff_key),
        blessed=blessed,
        failures=validation.failures,
        slices=_slice_checks(
            eval_config, class_name, candidate, baseline, sliced_values, validation.by_slice
        ),
    )
