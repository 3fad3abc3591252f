"""The gate metric's standard error on a sampled evaluation: the closed forms against
known results and a simulation, and how they are read from TFMA's output (a
``metrics`` file written as TFMA writes it)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_model_analysis as tfma
from tensorflow_model_analysis.proto import metrics_for_slice_pb2

from pipeline.ops.standard_errors import (
    JACKKNIFE,
    binomial,
    closed_form,
    hanley_mcneil,
    standard_errors,
)


@pytest.mark.parametrize(("positives", "negatives"), [(100, 100), (30, 500), (2000, 18000)])
def test_hanley_mcneil_at_chance_is_the_mann_whitney_null_variance(
    positives: int, negatives: int
) -> None:
    # At AUC 0.5 the formula reduces to the exact variance of the Mann-Whitney U
    # statistic (scaled to an AUC) under the null: (n1 + n2 + 1) / (12 n1 n2).
    exact = math.sqrt((positives + negatives + 1) / (12 * positives * negatives))
    assert hanley_mcneil(0.5, positives, negatives) == pytest.approx(exact, rel=1e-12)


def _auc(scores: np.ndarray, labels: np.ndarray) -> float:
    # The Mann-Whitney statistic: the share of (positive, negative) pairs ranked right.
    ranks = scores.argsort().argsort() + 1
    positives = int(labels.sum())
    negatives = len(labels) - positives
    return (ranks[labels == 1].sum() - positives * (positives + 1) / 2) / (positives * negatives)


def _simulated_spread(draw: object, positives: int, negatives: int) -> tuple[float, float]:
    # The mean and standard deviation of 1,500 AUCs of independent simulated samples.
    labels = np.r_[np.ones(positives, int), np.zeros(negatives, int)]
    aucs = [_auc(draw(), labels) for _ in range(1500)]  # type: ignore[operator]
    return float(np.mean(aucs)), float(np.std(aucs, ddof=1))


# 200 positives and 1,800 negatives: a 10 % click rate; true AUC 0.8 in both models.
POSITIVES, NEGATIVES = 200, 1800


def test_hanley_mcneil_matches_simulated_aucs_under_its_exponential_model() -> None:
    # Hanley and McNeil derived Q1 and Q2 for exponentially distributed scores:
    # negatives Exp(1), positives Exp(mean 4) have AUC 4 / (1 + 4) = 0.8.
    rng = np.random.default_rng(18)
    mean, observed = _simulated_spread(
        lambda: np.r_[rng.exponential(4.0, POSITIVES), rng.exponential(1.0, NEGATIVES)],
        POSITIVES,
        NEGATIVES,
    )
    assert hanley_mcneil(mean, POSITIVES, NEGATIVES) == pytest.approx(observed, rel=0.07)


def test_hanley_mcneil_is_conservative_for_binormal_scores() -> None:
    # Binormal scores with AUC 0.8 vary less than the exponential model assumes: the
    # formula overstates the error (here by ~25 %), never understates it.
    rng = np.random.default_rng(18)
    mean, observed = _simulated_spread(
        lambda: np.r_[rng.normal(1.19, 1, POSITIVES), rng.normal(0, 1, NEGATIVES)],
        POSITIVES,
        NEGATIVES,
    )
    predicted = hanley_mcneil(mean, POSITIVES, NEGATIVES)
    assert predicted is not None and observed < predicted < 1.4 * observed


def test_hanley_mcneil_needs_both_classes() -> None:
    assert hanley_mcneil(0.8, 0, 100) is None
    assert hanley_mcneil(0.8, 100, 0) is None


def test_binomial_is_the_proportions_standard_error() -> None:
    assert binomial(0.9, 10_000) == pytest.approx(0.003)
    assert binomial(0.5, 0) is None


def test_closed_form_reads_the_count_and_the_mean_label() -> None:
    values = {"auc": 0.8, "mean_label": 0.1, "example_count": 20_000.0}
    assert closed_form("auc", values, 1) == pytest.approx(hanley_mcneil(0.8, 2000, 18000))
    # Without TFMA's example_count, the sample's size counts.
    del values["example_count"]
    assert closed_form("auc", values, 20_000) == pytest.approx(hanley_mcneil(0.8, 2000, 18000))
    assert closed_form("binary_accuracy", {"binary_accuracy": 0.9}, 10_000) == pytest.approx(0.003)
    assert closed_form("auc", {"auc": 0.8}, 20_000) is None  # no mean label


def _write_metrics(
    directory: Path, values: dict[tuple[str, str, bool], float], errors: dict[str, float]
) -> str:
    # One MetricsForSlice for the overall slice, in TFMA's file name and format.
    metrics = metrics_for_slice_pb2.MetricsForSlice()
    metrics.slice_key.SetInParent()
    for (name, model, is_diff), value in values.items():
        kv = metrics.metric_keys_and_values.add()
        kv.key.CopyFrom(tfma.metrics.MetricKey(name, model_name=model, is_diff=is_diff).to_proto())
        kv.value.double_value.value = value
        if name in errors:
            error = errors[name] if not is_diff else errors[name] / 4
            kv.confidence_interval.standard_error.double_value.value = error
    directory.mkdir()
    with tf.io.TFRecordWriter(str(directory / "metrics-00000-of-00001.tfrecord")) as writer:
        writer.write(metrics.SerializeToString())
    return str(directory)


def test_standard_errors_of_an_auc_gate_are_closed_form_with_a_bound_on_the_change(
    tmp_path: Path,
) -> None:
    uri = _write_metrics(
        tmp_path / "evaluation",
        {
            ("auc", "candidate", False): 0.80,
            ("auc", "baseline", False): 0.78,
            ("auc", "candidate", True): 0.02,
            ("mean_label", "candidate", False): 0.1,
            ("mean_label", "baseline", False): 0.1,
            ("example_count", "candidate", False): 20_000,
            ("example_count", "baseline", False): 20_000,
        },
        {},
    )
    errors = standard_errors(uri, "auc", 20_000)
    candidate = hanley_mcneil(0.80, 2000, 18000)
    baseline = hanley_mcneil(0.78, 2000, 18000)
    assert errors.method == "Hanley-McNeil" and errors.change_is_bound
    assert errors.candidate == pytest.approx(candidate)
    assert errors.change == pytest.approx(math.hypot(candidate, baseline))  # type: ignore[arg-type]


def test_the_first_model_has_no_change_error(tmp_path: Path) -> None:
    # No baseline: TFMA names the only model "".
    uri = _write_metrics(
        tmp_path / "evaluation", {("auc", "", False): 0.8, ("mean_label", "", False): 0.1}, {}
    )
    errors = standard_errors(uri, "auc", 20_000)
    assert errors.candidate == pytest.approx(hanley_mcneil(0.8, 2000, 18000))
    assert errors.change is None


def test_other_gate_metrics_read_tfmas_jackknife(tmp_path: Path) -> None:
    uri = _write_metrics(
        tmp_path / "evaluation",
        {
            ("precision", "candidate", False): 0.4,
            ("precision", "baseline", False): 0.38,
            ("precision", "candidate", True): 0.02,
        },
        {"precision": 0.012},
    )
    errors = standard_errors(uri, "precision", 20_000)
    assert errors.method == JACKKNIFE and not errors.change_is_bound
    assert errors.candidate == pytest.approx(0.012)
    assert errors.change == pytest.approx(0.003)
