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

from pipeline.mlmd import connection as metadata
from pipeline.views import monitoring
from tests.support.cli import REPO
from tests.support.data import Runs


def _samples(text: str) -> dict[str, list]:
    return {family.name: family.samples for family in text_string_to_metric_families(text)}


def _exposition(runs: Runs) -> dict[str, list]:
    registry = monitoring.registry(runs.config, lambda: metadata.open_store(runs.config))
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

    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pipeline",
            "metrics",
            *args,
            "--serve",
            "--port",
            "0",
            "--addr",
            "127.0.0.1",
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        line = server.stdout.readline()
        assert line.startswith("Serving Prometheus metrics on http://127.0.0.1:"), line
        url = line.split(" on ", 1)[1].strip()
        with urllib.request.urlopen(url, timeout=120) as response:
            scraped = _samples(response.read().decode())
    finally:
        server.terminate()
        server.wait(timeout=30)
    (last,) = scraped["tfx_pipeline_last_run_succeeded"]
    assert last.value == 1.0
    assert scraped["tfx_pipeline_eval_metric"]
