"""A component failing mid-run stops it with one paragraph, never a traceback."""

from __future__ import annotations

import datetime
from pathlib import Path

from pipeline.devtools import clickgen
from tests.support.cli import error_paragraph, run_cli_process


def test_component_failure_is_one_paragraph_and_pushes_nothing(tmp_path: Path) -> None:
    path = clickgen.write_day(
        tmp_path / "data", datetime.date(2026, 11, 1), rows=300, seed=3, inject=["ragged_rows"]
    )
    assert path.exists()
    result = run_cli_process(
        "run", "--data-root", str(tmp_path / "data"), "--output-root", str(tmp_path / "out")
    )
    assert result.returncode == 1
    message = error_paragraph(result.stderr)
    assert "component CsvExampleGen failed" in message
    assert "Nothing was pushed" in message
    assert "Traceback" not in result.stderr
    log = tmp_path / "out" / "pipelines" / "clicks" / "last_failure.log"
    assert "Traceback" in log.read_text()
    serving = tmp_path / "out" / "serving" / "clicks"
    assert not serving.exists() or not any(serving.iterdir())
