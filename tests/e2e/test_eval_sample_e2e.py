"""evaluation.max_examples on a real pipeline run: TFMA evaluates the seeded sample,
and its size and the gate metric's closed-form standard error reach the run summary,
which ``python -m pipeline run`` prints from ML Metadata (one small pipeline run;
unit tests in tests/unit/test_eval_sample.py)."""

from __future__ import annotations

import re
from pathlib import Path

from tests.support.cli import run_cli
from tests.support.config import Raw, write_config
from tests.support.data import write_click_spans

MAX_EXAMPLES = 150


def test_the_gate_runs_on_the_sample_and_the_summary_reports_its_error(tmp_path: Path) -> None:
    data = tmp_path / "data"
    write_click_spans(data, days=1, rows=1500)

    def mutate(raw: Raw) -> None:
        raw["evaluation"]["max_examples"] = MAX_EXAMPLES
        raw["model"]["train_steps"] = 100

    config = write_config(tmp_path, mutate)
    out = tmp_path / "out"
    result = run_cli(
        ["run", "--config", str(config), "--data-root", str(data), "--output-root", str(out)]
    )
    assert result.returncode == 0, result.stderr

    # The sample's size against the eval split's, as the Evaluator recorded them.
    match = re.search(r"a seeded sample of (\d+) of ([\d,]+) rows", result.stdout)
    assert match, result.stdout
    assert int(match.group(1)) == MAX_EXAMPLES < int(match.group(2).replace(",", ""))
    # TFMA evaluated the sample, not the split: its ExampleCount is the sample's size.
    assert re.search(rf"^  example_count\s+{MAX_EXAMPLES}\.0000$", result.stdout, re.M)
    # AUC's Hanley-McNeil standard error (the first model: no baseline change).
    error = re.search(
        rf"^  auc standard error (\d\.\d{{4}}) \(Hanley-McNeil; n = {MAX_EXAMPLES}\)$",
        result.stdout,
        re.M,
    )
    assert error and 0 < float(error.group(1)) < 0.2, result.stdout
