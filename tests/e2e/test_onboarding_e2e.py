"""Bring your own CSV: ``init``, then ``schema``, then ``run``, with no hand edits.

Each dataset is one nobody here generated for this pipeline (scikit-learn's bundled
tables) or one shaped like a real export (blanks, a near-unique id, semicolons, a
byte-order mark). The first span's run must push a blessed model; the second span's
run must evaluate against the first model as its baseline.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from pipeline.config import load_config
from tests.support import datasets
from tests.support.cli import CliResult, run_cli

DATASETS: dict[str, tuple[Callable[..., list[Path]], str, list[str]]] = {
    "breast_cancer": (datasets.breast_cancer, "target", []),
    "diabetes": (datasets.diabetes, "target", ["--task", "regression"]),
    "messy": (datasets.messy, "churned", []),
}


def _ok(result: CliResult, what: str) -> CliResult:
    assert result.returncode == 0, (
        f"{what} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    )
    return result


def _versions(push_dir: Path) -> list[str]:
    if not push_dir.is_dir():
        return []
    return sorted(
        p.name for p in push_dir.iterdir() if p.name.isdigit() and (p / "saved_model.pb").is_file()
    )


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_init_schema_run_on_two_spans(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write, label, init_args = DATASETS[name]
    monkeypatch.chdir(tmp_path)
    staging = tmp_path / "incoming"
    files = write(staging)
    data = tmp_path / "data" / name
    # Day one arrives: the user points init at it.
    first = data / files[0].parent.name
    first.mkdir(parents=True)
    files[0].rename(first / files[0].name)

    config_path = tmp_path / f"{name}.yaml"
    init = _ok(
        run_cli(
            ["init", "--data", str(data), "--label", label, "--out", str(config_path), *init_args]
        ),
        "init",
    )
    assert label in init.stdout  # one line per column, the label's among them
    _ok(run_cli(["schema", "--config", str(config_path)]), "schema")
    config = load_config(config_path)

    _ok(run_cli(["run", "--config", str(config_path)]), "first run")
    pushed = _versions(config.push_dir)
    assert len(pushed) == 1, f"the first model was not pushed: {os.listdir(config.outputs.root)}"

    # Day two arrives: its model is judged against the first one.
    second = data / files[1].parent.name
    second.mkdir(parents=True)
    files[1].rename(second / files[1].name)
    result = _ok(run_cli(["run", "--config", str(config_path)]), "second run")
    assert "baseline: none" not in result.stdout and "first model" not in result.stdout, (
        result.stdout
    )
