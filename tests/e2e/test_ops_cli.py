"""``python -m pipeline runs|diff|lineage|rollback|promote`` on real runs, tables and JSON."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pipeline import cli
from tests.support.data import Runs


def _args(root: Path, runs: Runs) -> list[str]:
    return ["--data-root", str(runs.config.data.input_base), "--output-root", str(root)]


def _main(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_lineage_rollback_promote_lineage(
    clicks_runs: Runs, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A copy of the runs' outputs: rollback and promote write models.config and MLMD.
    original = clicks_runs.config.outputs.pipeline_root.parents[1]
    root = tmp_path / "out"
    shutil.copytree(original, root)
    served = Path(clicks_runs.new_span.pushed_destination).name
    first = Path(clicks_runs.first.pushed_destination).name
    versions = sorted(p.name for p in (root / "serving" / "clicks").iterdir())

    code, out, _ = _main(capsys, "lineage", *_args(root, clicks_runs))
    assert code == 0
    assert f"version {served} (served)" in out and "labels:   stable" in out
    assert "rollback: no" in out

    code, out, _ = _main(capsys, "lineage", *_args(root, clicks_runs), "--json")
    assert code == 0
    described = json.loads(out)
    assert described["version"] == served and described["served"] is True
    assert described["labels"] == ["stable"]

    code, out, _ = _main(capsys, "rollback", *_args(root, clicks_runs), "--json")
    assert code == 0, out
    result = json.loads(out)
    assert (result["from_version"], result["to_version"]) == (served, first)
    assert result["labels"] == {"stable": first}
    assert sorted(p.name for p in (root / "serving" / "clicks").iterdir()) == versions

    code, out, _ = _main(capsys, "lineage", *_args(root, clicks_runs))
    assert code == 0
    assert f"version {first} (served)" in out and "labels:   stable" in out

    # The run history shows the rollback as its own entry, and the labels now.
    code, out, _ = _main(capsys, "runs", *_args(root, clicks_runs), "--json")
    records = json.loads(out)
    newest = records[0]
    assert newest["kind"] == "rollback" and newest["run_id"] == result["run_id"]
    assert newest["pushed_version"] is None
    assert newest["reason"] == f"moved stable from version {served} to {first}"
    by_run = {r["run_id"]: r for r in records}
    assert by_run[clicks_runs.first.run_id]["labels"] == ["stable"]
    assert by_run[clicks_runs.new_span.run_id]["labels"] == []

    code, out, _ = _main(capsys, "promote", *_args(root, clicks_runs), served)
    assert code == 0, out
    assert f"version {served} is stable now (was {first})" in out
    code, out, _ = _main(capsys, "runs", *_args(root, clicks_runs))
    assert out.splitlines()[0].split()[-3:] == ["labels", "stopped", "by"]
    assert f"moved stable from version {first} to {served}" in out

    # The original outputs were not touched.
    assert "stable" in (original / "serving" / "models.config").read_text()
    assert f"value: {served}" in (original / "serving" / "models.config").read_text()


def test_unknown_version_is_a_clear_error(
    clicks_runs: Runs, capsys: pytest.CaptureFixture[str]
) -> None:
    root = clicks_runs.config.outputs.pipeline_root.parents[1]
    code, _, err = _main(capsys, "lineage", *_args(root, clicks_runs), "123")
    assert code == 2
    assert err.startswith("error: ") and "123" in err
    code, _, err = _main(capsys, "rollback", *_args(root, clicks_runs), "--to", "123")
    assert code == 2
    assert err.startswith("error: ") and "123" in err


def test_runs_and_diff(clicks_runs: Runs, capsys: pytest.CaptureFixture[str]) -> None:
    root = clicks_runs.config.outputs.pipeline_root.parents[1]
    code, out, _ = _main(capsys, "runs", *_args(root, clicks_runs))
    assert code == 0
    assert out.splitlines()[0].startswith("run id")
    assert clicks_runs.new_span.run_id in out and clicks_runs.first.run_id in out

    code, out, _ = _main(capsys, "runs", *_args(root, clicks_runs), "--json")
    records = {r["run_id"]: r for r in json.loads(out)}
    pushed = Path(clicks_runs.first.pushed_destination).name
    assert records[clicks_runs.first.run_id]["pushed_version"] == pushed
    assert records[clicks_runs.first.run_id]["status"] == "succeeded"

    code, out, _ = _main(
        capsys,
        "diff",
        *_args(root, clicks_runs),
        clicks_runs.first.run_id,
        clicks_runs.new_span.run_id,
    )
    assert code == 0
    assert "spans added:" in out and "code version: same" in out

    code, out, _ = _main(
        capsys, "diff", *_args(root, clicks_runs), clicks_runs.first.run_id, "no-such-run", "--json"
    )
    assert code == 2


def test_report_command_writes_the_html_page(
    clicks_runs: Runs, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = clicks_runs.config.outputs.pipeline_root.parents[1]
    out = tmp_path / "page.html"
    code, printed, _ = _main(
        capsys, "report", *_args(root, clicks_runs), clicks_runs.first.run_id, "--out", str(out)
    )
    assert code == 0 and printed.strip() == str(out)
    assert clicks_runs.first.run_id in out.read_text()
    code, _, err = _main(capsys, "report", *_args(root, clicks_runs), "no-such-run")
    assert code == 2 and "no-such-run" in err
