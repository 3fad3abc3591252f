"""Warm-up requests in every pushed version, and ``predict`` on the local served model.

The session's real runs (``clicks_runs``) pushed versions through the Pusher, which
writes ``assets.extra/tf_serving_warmup_requests`` from the newest span's eval rows.
These tests read the file back as TF Serving does (a TFRecord of ``PredictionLog``),
run each request through the signature it names, and run ``python -m pipeline
predict`` without a host against the same serving directory.
"""

from __future__ import annotations

import csv
import glob
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
import tensorflow as tf

from components import serving_config, warmup
from components.model.exporter import OUTPUT_KEY, RAW_SIGNATURE, SERVING_SIGNATURE
from pipeline.config import DEFAULT_CONFIG
from tests.support.cli import run_cli

if TYPE_CHECKING:
    from tests.support.data import Runs

ROWS = 12


@pytest.fixture(scope="module")
def versions(clicks_runs: Runs) -> list[Path]:
    """Every version directory the session's runs pushed."""
    push_dir = clicks_runs.config.push_dir
    found = sorted(p for p in push_dir.iterdir() if p.is_dir() and p.name.isdigit())
    assert found
    return found


def test_every_pushed_version_carries_warmup_requests_that_run(versions: list[Path]) -> None:
    for version in versions:
        logs = warmup.read(version)
        assert logs, f"{version} has no {warmup.WARMUP_FILE}"
        loaded = tf.saved_model.load(str(version))
        signatures = set()
        for log in logs:
            assert log.WhichOneof("log_type") == "predict_log"
            request = log.predict_log.request
            name = request.model_spec.signature_name
            signatures.add(name)
            inputs = {k: tf.constant(tf.make_ndarray(v)) for k, v in request.inputs.items()}
            rows = len(next(iter(inputs.values())))
            probabilities = loaded.signatures[name](**inputs)[OUTPUT_KEY].numpy()
            assert probabilities.shape == (rows, 1)
            assert ((probabilities > 0) & (probabilities < 1)).all()
        assert signatures == {SERVING_SIGNATURE, RAW_SIGNATURE}
        assert len(logs) == 2 * len(warmup.BATCH_SIZES)


def test_the_pushed_model_records_its_warmup_requests(clicks_runs: Runs) -> None:
    from pipeline.mlmd import connection as metadata
    from pipeline.ops import lineage

    store = metadata.open_store(clicks_runs.config)
    pushed = lineage.pushed_models(store, clicks_runs.config)
    assert pushed
    for version, artifact in pushed.items():
        assert artifact.custom_properties["warmup_requests"].int_value == 6, version
        reason = artifact.custom_properties["warmup_reason"].string_value
        assert "serving_default, serving_raw" in reason
        assert len(warmup.read(Path(artifact.uri))) == 6  # the archived copy too


@pytest.fixture(scope="module")
def rows_csv(clicks_runs: Runs, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The newest span's first rows that have every column (serving_raw needs each)."""
    (newest,) = sorted(glob.glob(str(clicks_runs.config.data.input_base / "*" / "*.csv")))[-1:]
    with open(newest, encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        header = list(reader.fieldnames or [])
        rows = [row for row in reader if all(value != "" for value in row.values())][:ROWS]
    path = tmp_path_factory.mktemp("predict") / "rows.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, header)
        writer.writeheader()
        writer.writerows(rows)
    return path


def _direct(version: Path, rows_csv: Path) -> np.ndarray:
    """The SavedModel's serving_raw called directly on the CSV's columns."""
    loaded = tf.saved_model.load(str(version))
    signature = loaded.signatures[RAW_SIGNATURE]
    with rows_csv.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    tensors = {}
    for name, spec in signature.structured_input_signature[1].items():
        column = [row[name] for row in rows]
        if spec.dtype == tf.string:
            tensors[name] = tf.constant(column)
        else:
            tensors[name] = tf.constant(np.array(column, dtype=np.float64), dtype=spec.dtype)
    return signature(**tensors)[OUTPUT_KEY].numpy()


@pytest.mark.parametrize("signature", [SERVING_SIGNATURE, RAW_SIGNATURE])
def test_predict_without_a_host_uses_the_stable_local_version(
    clicks_runs: Runs, versions: list[Path], rows_csv: Path, signature: str
) -> None:
    config = clicks_runs.config
    labels = serving_config.labels(config.outputs.serving_dir, config.model_name) or {}
    stable = config.push_dir / labels["stable"] if "stable" in labels else versions[-1]
    result = run_cli(
        [
            "predict",
            "--config",
            str(DEFAULT_CONFIG),
            "--output-root",
            str(config.outputs.serving_dir.parent),
            "--data-root",
            str(config.data.input_base),
            str(rows_csv),
            "--signature",
            signature,
            "--json",
        ]
    )
    assert result.returncode == 0, result.stderr
    answer: dict[str, Any] = json.loads(result.stdout)
    assert answer["target"] == str(stable)
    assert answer["signature"] == signature
    predictions = np.array(answer["predictions"])
    assert predictions.shape == (ROWS, 1)
    np.testing.assert_allclose(predictions, _direct(stable, rows_csv), rtol=1e-5, atol=1e-6)


def test_predict_a_named_version_prints_one_line_per_row(
    clicks_runs: Runs, versions: list[Path], rows_csv: Path
) -> None:
    config = clicks_runs.config
    oldest = versions[0]
    result = run_cli(
        [
            "predict",
            "--config",
            str(DEFAULT_CONFIG),
            "--output-root",
            str(config.outputs.serving_dir.parent),
            str(rows_csv),
            "--rows",
            "4",
            "--version",
            oldest.name,
        ]
    )
    assert result.returncode == 0, result.stderr
    header, *lines = result.stdout.strip().splitlines()
    assert header == f"# 4 rows, {SERVING_SIGNATURE}, {oldest}"
    expected = _direct(oldest, rows_csv)[:4, 0]
    np.testing.assert_allclose([float(line) for line in lines], expected, atol=1e-6)
