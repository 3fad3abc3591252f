"""Bad input stops a run with one paragraph and a non-zero exit, never a traceback."""

from __future__ import annotations

import datetime
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.devtools import clickgen
from tests.conftest import REPO


def _run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIPELINE_")}
    return subprocess.run(
        [sys.executable, "-m", "pipeline", "run", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=600,
    )


def _error_paragraph(stderr: str) -> str:
    errors = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, stderr[-3000:]
    return errors[0]


def test_missing_data_fails_before_any_component(tmp_path: Path) -> None:
    result = _run_cli("--data-root", str(tmp_path / "empty"), "--output-root", str(tmp_path / "out"))
    assert result.returncode == 2
    assert "no span matching" in _error_paragraph(result.stderr)
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out" / "metadata").exists()


def test_missing_schema_file_names_the_config_key(tmp_path: Path) -> None:
    config = (REPO / "pipeline" / "configs" / "clicks.yaml").read_text()
    config_path = tmp_path / "clicks.yaml"
    config_path.write_text(
        config.replace("../../schemas/clicks/schema.pbtxt", str(tmp_path / "missing.pbtxt"))
        .replace("../../data/clicks", str(REPO / "data" / "clicks"))
        .replace("../../outputs", str(tmp_path / "out"))
    )
    result = _run_cli("--config", str(config_path))
    assert result.returncode == 2
    message = _error_paragraph(result.stderr)
    assert "missing.pbtxt" in message and "schema_file" in message


@pytest.mark.e2e
def test_component_failure_is_one_paragraph_and_pushes_nothing(tmp_path: Path) -> None:
    path = clickgen.write_day(
        tmp_path / "data", datetime.date(2026, 11, 1), rows=300, seed=3, inject=["ragged_rows"]
    )
    assert path.exists()
    result = _run_cli("--data-root", str(tmp_path / "data"), "--output-root", str(tmp_path / "out"))
    assert result.returncode == 1
    message = _error_paragraph(result.stderr)
    assert "component CsvExampleGen failed" in message
    assert "Nothing was pushed" in message
    assert "Traceback" not in result.stderr
    log = tmp_path / "out" / "pipelines" / "clicks" / "last_failure.log"
    assert "Traceback" in log.read_text()
    serving = tmp_path / "out" / "serving" / "clicks"
    assert not serving.exists() or not any(serving.iterdir())
