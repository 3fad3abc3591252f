"""Bad input stops a run with one paragraph and a non-zero exit, never a traceback."""

from __future__ import annotations

from pathlib import Path

from tests.support.cli import REPO, error_paragraph, run_cli_process


def test_missing_data_fails_before_any_component(tmp_path: Path) -> None:
    result = run_cli_process(
        "run", "--data-root", str(tmp_path / "empty"), "--output-root", str(tmp_path / "out")
    )
    assert result.returncode == 2
    assert "no span matching" in error_paragraph(result.stderr)
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out" / "metadata").exists()


def test_missing_schema_file_names_the_config_key(tmp_path: Path) -> None:
    config = (REPO / "pipeline" / "configs" / "clicks.yaml").read_text()
    config_path = tmp_path / "clicks.yaml"
    config_path.write_text(
        config.replace(
            "schema_file: schemas/clicks/schema.pbtxt", f"schema_file: {tmp_path}/missing.pbtxt"
        )
        .replace("input_base: data/clicks", f"input_base: {REPO}/data/clicks")
        .replace("root: outputs", f"root: {tmp_path}/out")
    )
    result = run_cli_process("run", "--config", str(config_path))
    assert result.returncode == 2
    message = error_paragraph(result.stderr)
    assert "missing.pbtxt" in message and "schema_file" in message
