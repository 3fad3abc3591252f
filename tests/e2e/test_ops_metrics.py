"""Prometheus metrics from ML Metadata: scraped and parsed, on real runs."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from pipeline.config import PipelineConfig
from pipeline.mlmd import connection as metadata
from pipeline.views import monitoring
from tests.support.cli import REPO
from tests.support.data import Runs, span_of_day, with_rejected_day
from tests.support.exporter import metrics_exporter


def _samples(text: str) -> dict[str, list]:
    return {family.name: family.samples for family in text_string_to_metric_families(text)}


def _exposition(runs: Runs) -> dict[str, list]:
    return _exposition_of(runs.config)


def _exposition_of(config: PipelineConfig) -> dict[str, list]:
    registry = monitoring.registry(config, lambda: metadata.open_store(config, {}))
    return _samples(generate_latest(registry).decode())


def test_metrics_describe_the_runs_spans_and_served_model(clicks_runs: Runs) -> None:
    samples = _exposition(clicks_runs)
    (last_success,) = samples["tfx_pipeline_last_success_timestamp_seconds"]
    assert time.time() - 3600 < last_success.value <= time.time() + 1
    (last,) = samples["tfx_pipeline_last_run_succeeded"]
    assert last.value == 1.0

    durations = {s.labels["run_id"]: s for s in samples["tfx_pipeline_run_duration_seconds"]}
    for summary in (clicks_runs.first, clicks_runs.rerun, clicks_runs.new_span):
        assert durations[summary.run_id].labels["status"] == "succeeded"
        assert durations[summary.run_id].value > 0
    # The rerun is all cache hits: far quicker than the run that trained.
    assert durations[clicks_runs.rerun.run_id].value < durations[clicks_runs.new_span.run_id].value

    gate = {int(s.labels["span"]): s.value for s in samples["tfx_pipeline_span_data_gate_passed"]}
    assert len(gate) == 3 and set(gate.values()) == {1.0}
    anomalies = {
        int(s.labels["span"]): s.value for s in samples["tfx_pipeline_span_anomalous_features"]
    }
    assert set(anomalies) == set(gate) and set(anomalies.values()) == {0.0}
    drifted = {
        int(s.labels["span"]): s.value for s in samples["tfx_pipeline_span_drifted_features"]
    }
    # The first span has nothing to drift from; the later ones were measured.
    assert set(drifted) == set(sorted(gate)[1:]) and set(drifted.values()) == {0.0}

    metrics = {s.labels["metric"]: s.value for s in samples["tfx_pipeline_eval_metric"]}
    assert metrics["auc"] == pytest.approx(clicks_runs.new_span.metrics["auc"])
    (served,) = samples["tfx_pipeline_served_version"]
    assert served.value == float(Path(clicks_runs.new_span.pushed_destination).name)
    assert served.labels["label"] == "stable"  # models.config: no canary was pushed


def test_metrics_give_each_drift_with_its_threshold_and_the_last_push(clicks_runs: Runs) -> None:
    samples = _exposition(clicks_runs)
    config = clicks_runs.config
    newest = max(int(s.labels["span"]) for s in samples["tfx_pipeline_span_data_gate_passed"])
    drift = {
        s.labels["feature"]: s
        for s in samples["tfx_pipeline_feature_drift"]
        if s.labels["comparison"] == "drift"
    }
    limits = config.validation.drift_limits(config.features)
    # Every configured limit was measured on the newest span, and only on it.
    assert set(drift) == set(limits)
    assert {int(s.labels["span"]) for s in samples["tfx_pipeline_feature_drift"]} == {newest}
    thresholds = {
        s.labels["feature"]: s.value
        for s in samples["tfx_pipeline_feature_drift_threshold"]
        if s.labels["comparison"] == "drift"
    }
    for feature, (measure, limit) in limits.items():
        assert drift[feature].labels["measure"] == measure
        assert thresholds[feature] == pytest.approx(limit)
        assert 0.0 <= drift[feature].value <= limit  # the gate passed this span
    # Nothing stopped: no blocked-feature series.
    assert samples["tfx_pipeline_data_gate_blocked_feature"] == []

    (pushed,) = samples["tfx_pipeline_last_push_timestamp_seconds"]
    assert pushed.labels["model"] == config.model_name
    (last_success,) = samples["tfx_pipeline_last_success_timestamp_seconds"]
    durations = {s.labels["run_id"]: s.value for s in samples["tfx_pipeline_run_duration_seconds"]}
    started = last_success.value - durations[clicks_runs.new_span.run_id]
    # The newest push was the newest run's (its PushedModel is recorded a moment after
    # the Pusher's execution, the run's last update).
    assert started < pushed.value < last_success.value + 5


def test_a_day_the_gate_rejected_is_listed_with_its_span_day_and_blocking_feature(
    clicks_runs: Runs, tmp_path: Path
) -> None:
    config, day = with_rejected_day(clicks_runs, tmp_path)
    samples = _exposition_of(config)
    span = span_of_day(day)
    gate = {int(s.labels["span"]): s.value for s in samples["tfx_pipeline_span_data_gate_passed"]}
    assert gate[span] == 0.0
    blocked = samples["tfx_pipeline_data_gate_blocked_feature"]
    assert {(s.labels["span"], s.labels["day"]) for s in blocked} == {(str(span), day.isoformat())}
    reasons = {s.labels["feature"]: s.labels["reason"] for s in blocked}
    # Negative quantities break the schema's minimum: ExampleValidator's anomaly.
    assert "INT_TYPE_SMALL_INT" in reasons["purchase_quantity"].split(",")
    # The drift that blocked it too, from the runner's record on the failed execution.
    assert "COMPARATOR_L_INFTY_HIGH" in reasons["device"].split(",")
    assert {s.value for s in blocked} == {1.0}
    # The drift series stay on the newest span the gate passed.
    assert span not in {int(s.labels["span"]) for s in samples["tfx_pipeline_feature_drift"]}


def test_metrics_served_over_http_and_as_a_textfile(clicks_runs: Runs, tmp_path: Path) -> None:
    root = clicks_runs.config.outputs.pipeline_root.parents[1]
    args = ["--data-root", str(clicks_runs.config.data.input_base), "--output-root", str(root)]
    textfile = tmp_path / "clicks.prom"
    subprocess.run(
        [sys.executable, "-m", "pipeline", "metrics", *args, "--textfile", str(textfile)],
        check=True,
        cwd=REPO,
        capture_output=True,
        timeout=300,
    )
    assert "tfx_pipeline_served_version" in _samples(textfile.read_text())

    with metrics_exporter(clicks_runs.config.data.input_base, root) as (_, url):
        with urllib.request.urlopen(url, timeout=120) as response:
            scraped = _samples(response.read().decode())
    (last,) = scraped["tfx_pipeline_last_run_succeeded"]
    assert last.value == 1.0
    assert scraped["tfx_pipeline_eval_metric"]
