"""deploy/serving/*.config parsed into TF Serving's own protos (pipeline/serving/files.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from pipeline.serving import files

REPO = Path(__file__).resolve().parents[2]


def test_the_shipped_files_parse_into_tf_serving_protos() -> None:
    parsed = files.check_serving_files(REPO / "deploy" / "serving")
    assert parsed.monitoring.DESCRIPTOR.full_name == "tensorflow.serving.MonitoringConfig"
    assert parsed.monitoring.prometheus_config.enable
    assert parsed.monitoring.prometheus_config.path == "/monitoring/prometheus/metrics"
    assert parsed.batching.DESCRIPTOR.full_name == "tensorflow.serving.BatchingParameters"
    assert parsed.batching.num_batch_threads.value == 2
    assert parsed.batching.max_batch_size.value == 32
    assert not parsed.batching.pad_variable_length_inputs


def test_prometheus_scrapes_the_path_tf_serving_exposes() -> None:
    monitoring = files.check_serving_files(REPO / "deploy" / "serving").monitoring
    config = yaml.safe_load((REPO / "deploy" / "prometheus" / "prometheus.yml").read_text())
    (job,) = [job for job in config["scrape_configs"] if job["job_name"] == "tf-serving"]
    assert job["metrics_path"] == monitoring.prometheus_config.path
    # The endpoint is served on TF Serving's REST port.
    assert all(target.endswith(":8501") for c in job["static_configs"] for target in c["targets"])


def test_warmup_batches_fit_in_a_batch() -> None:
    # With --enable_batching, a request of more rows than max_batch_size is refused;
    # a refused warm-up request makes the version fail to load.
    from components import warmup

    batching = files.check_serving_files(REPO / "deploy" / "serving").batching
    assert max(warmup.BATCH_SIZES) <= batching.max_batch_size.value


def _copy(tmp_path: Path) -> Path:
    shutil.copytree(REPO / "deploy" / "serving", tmp_path / "serving")
    return tmp_path / "serving"


def test_a_broken_monitoring_file_is_named(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    path = folder / files.MONITORING_FILE
    path.write_text("prometheus_config { enable: true path: /monitoring }\n")
    with pytest.raises(files.ServingFileError) as caught:
        files.check_serving_files(folder)
    message = str(caught.value)
    assert str(path) in message
    assert "tensorflow.serving.MonitoringConfig" in message
    assert "1:" in message  # the parser's line and column


def test_a_misspelled_batching_field_is_named(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    path = folder / files.BATCHING_FILE
    path.write_text(path.read_text().replace("num_batch_threads", "num_batching_threads"))
    with pytest.raises(files.ServingFileError, match="num_batching_threads") as caught:
        files.check_serving_files(folder)
    assert str(path) in str(caught.value)
    assert "tensorflow.serving.BatchingParameters" in str(caught.value)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    (folder / files.BATCHING_FILE).unlink()
    with pytest.raises(files.ServingFileError, match=str(folder / files.BATCHING_FILE)):
        files.check_serving_files(folder)


def test_prometheus_turned_off_or_moved_is_refused(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    path = folder / files.MONITORING_FILE
    path.write_text('prometheus_config { enable: false path: "/monitoring/prometheus/metrics" }')
    with pytest.raises(files.ServingFileError, match="enable is not true"):
        files.check_serving_files(folder)
    path.write_text('prometheus_config { enable: true path: "/metrics" }')
    with pytest.raises(files.ServingFileError, match="prometheus.yml"):
        files.check_serving_files(folder)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("num_batch_threads { value: 2 }", "max_batch_size must be set"),
        ("max_batch_size { value: 32 } num_batch_threads { value: 0 }", "num_batch_threads"),
        (
            "max_batch_size { value: 32 } num_batch_threads { value: 2 } "
            "allowed_batch_sizes: 8 allowed_batch_sizes: 16",
            "end with max_batch_size 32",
        ),
        (
            "max_batch_size { value: 32 } num_batch_threads { value: 2 } "
            "batch_timeout_micros { value: -1 }",
            "batch_timeout_micros must not be negative",
        ),
    ],
)
def test_batching_values_tf_serving_refuses(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / files.BATCHING_FILE
    path.write_text(text)
    with pytest.raises(files.ServingFileError, match=problem) as caught:
        files.load_batching_parameters(path)
    assert str(path) in str(caught.value)
