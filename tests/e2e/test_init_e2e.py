"""``init`` then ``schema`` through the CLI: the config loads, the schema validates."""

from __future__ import annotations

from pathlib import Path

import pytest
import tensorflow_data_validation as tfdv

from pipeline.config import load_config
from pipeline.onboarding import schema, statistics
from tests.support.cli import run_cli
from tests.support.onboarding import write_blank_spans


def test_init_then_schema_then_the_config_loads_and_the_schema_validates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    data = tmp_path / "orders"
    write_blank_spans(data, days=2)

    init = run_cli(["init", "--data", str(data), "--label", "label"])
    assert init.returncode == 0, init.stderr
    config_file = tmp_path / "orders.yaml"
    schema_file = tmp_path / "schemas" / "orders" / "schema.pbtxt"
    assert f"Wrote {config_file} and {schema_file}." in init.stdout
    # One line per column: what was decided and why.
    assert "  row_id: ignored (ID-like: 600 distinct of 600 values)" in init.stdout
    assert "  note: ignored (blank in every row)" in init.stdout
    assert "  amount: numeric (float values)" in init.stdout
    assert "  label: label (binary: detected" in init.stdout
    assert "span_pattern '{YYYY}-{MM}-{DD}/*.csv', delimiter ','" in init.stdout

    again = run_cli(["init", "--data", str(data), "--label", "label"])
    assert again.returncode == 2
    assert "exists" in again.stderr

    refresh = run_cli(["schema", "--config", str(config_file)])
    assert refresh.returncode == 0, refresh.stderr
    assert "Updated the curated schema" in refresh.stdout
    assert "No change" in refresh.stdout

    config = load_config(config_file)
    written = schema.read_schema(config.schema_file)
    assert written is not None
    with statistics.decoded_window(config) as window:
        stats = window.statistics(statistics.pipeline_stats_options(config))
    assert not tfdv.validate_statistics(stats, written).anomaly_info

    fresh = run_cli(["schema", "--config", str(config_file), "--fresh", "--dry-run"])
    assert fresh.returncode == 0, fresh.stderr
    assert "Inferred from scratch" in fresh.stdout
    assert "open domain city: " in fresh.stdout


def test_init_refuses_a_string_label_in_a_sentence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write_blank_spans(tmp_path / "orders", days=1)
    result = run_cli(["init", "--data", str(tmp_path / "orders"), "--label", "device"])
    assert result.returncode == 2
    assert "label 'device' holds strings" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "orders.yaml").exists()
