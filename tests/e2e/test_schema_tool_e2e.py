"""The ``schema`` CLI on generated data: dry run, write, then an update with no change."""

from __future__ import annotations

from pathlib import Path

import yaml

from pipeline.config import DEFAULT_CONFIG
from tests.support.cli import run_cli_process


def test_schema_cli_dry_run_write_and_no_change(two_days: Path, tmp_path: Path) -> None:
    raw = yaml.safe_load(DEFAULT_CONFIG.read_text(encoding="utf-8"))
    schema_file = tmp_path / "schema" / "schema.pbtxt"
    raw["data"]["input_base"] = str(two_days)
    raw["schema_file"] = str(schema_file)
    raw["outputs"] = {"root": str(tmp_path / "outputs")}
    config_file = tmp_path / "pipeline.yaml"
    config_file.write_text(yaml.safe_dump(raw), encoding="utf-8")
    schema = ("schema", "--config", str(config_file))

    dry = run_cli_process(*schema, "--dry-run", cwd=tmp_path, timeout=180)
    assert dry.returncode == 0, dry.stderr
    assert "Inferred from scratch with spans" in dry.stdout
    assert "+ feature clicked" in dry.stdout
    assert "+ string domain device" in dry.stdout
    assert "Dry run" in dry.stdout
    assert not schema_file.exists()

    write = run_cli_process(*schema, cwd=tmp_path, timeout=180)
    assert write.returncode == 0, write.stderr
    assert "+ feature clicked" in write.stdout
    assert f"Wrote {schema_file}" in write.stdout
    assert schema_file.is_file()
    assert 'name: "clicked"' in schema_file.read_text(encoding="utf-8")

    again = run_cli_process(*schema, cwd=tmp_path, timeout=180)
    assert again.returncode == 0, again.stderr
    assert "Updated the curated schema" in again.stdout
    assert "No change" in again.stdout
    assert "Wrote" not in again.stdout
