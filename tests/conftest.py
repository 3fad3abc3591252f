"""Shared fixtures: paths of the repository, small generated click data, and one
session-wide sequence of real pipeline runs for the tests that read its results."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import io
import logging
import os
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import pytest

if TYPE_CHECKING:
    from pipeline.config import PipelineConfig
    from pipeline.ops.summary import RunSummary

# TensorFlow's C++ INFO lines add nothing to test output.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[1]


def pytest_configure(config: pytest.Config) -> None:
    """Points Airflow at a throw-away home before anything imports it."""
    os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="airflow-home-")
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"


@pytest.fixture(scope="session")
def repo() -> Path:
    """The repository root."""
    return REPO


def write_click_spans(
    root: Path, days: int, rows: int = 2000, start: datetime.date = datetime.date(2026, 11, 1)
) -> list[Path]:
    """Writes ``days`` daily spans of generated click data under ``root``."""
    from pipeline.devtools import clickgen

    return clickgen.write_spans(root, start=start, days=days, rows=rows, seed=11)


E2E_START = datetime.date(2026, 11, 1)


@dataclasses.dataclass(frozen=True)
class CliResult:
    """What ``python -m pipeline ...`` printed and returned, run in-process."""

    returncode: int
    stdout: str
    stderr: str


def run_cli(args: list[str]) -> CliResult:
    """Runs the CLI in this process (TFX is imported once per session, not per run).

    The CLI routes logging to the run's log file; pytest's handlers are put back.

    Args:
        args: The CLI arguments after ``python -m pipeline``.

    Returns:
        The exit code and the captured terminal output.
    """
    from pipeline import cli

    stdout, stderr = io.StringIO(), io.StringIO()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            code = cli.main(args)
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    return CliResult(code, stdout.getvalue(), stderr.getvalue())


@dataclasses.dataclass
class Runs:
    """Three real runs of the clicks pipeline on generated data, in one store.

    ``first`` (two days: the older one is validated by a backfill, the newer one
    trained on and pushed), ``rerun`` (nothing new: all cache hits) and
    ``new_span`` (a third day: retrained, evaluated against the first model).
    """

    config: PipelineConfig
    first: RunSummary
    rerun: RunSummary
    new_span: RunSummary
    versions_after_first: list[str]
    versions_after_rerun: list[str]
    models_after_first: int
    models_after_rerun: int


def _versions(config: PipelineConfig) -> list[str]:
    return sorted(p.name for p in config.push_dir.iterdir()) if config.push_dir.exists() else []


def _count(config: PipelineConfig, type_name: str) -> int:
    from pipeline.mlmd import connection as metadata

    return len(metadata.open_store(config).get_artifacts_by_type(type_name))


@pytest.fixture(scope="session")
def clicks_runs(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    """The session's shared pipeline runs (see :class:`Runs`); treat as read-only."""
    from pipeline.config import DEFAULT_CONFIG, load_config, with_env_overrides
    from pipeline.run.local import run

    root = tmp_path_factory.mktemp("clicks")
    write_click_spans(root / "data", days=2, rows=2500, start=E2E_START)
    config = with_env_overrides(
        load_config(DEFAULT_CONFIG),
        {"PIPELINE_DATA_ROOT": str(root / "data"), "PIPELINE_OUTPUT_ROOT": str(root / "out")},
    )
    first = run(config)
    versions_after_first = _versions(config)
    models_after_first = _count(config, "Model")
    rerun = run(config)
    versions_after_rerun = _versions(config)
    models_after_rerun = _count(config, "Model")
    write_click_spans(root / "data", days=1, rows=2500, start=E2E_START + datetime.timedelta(days=2))
    new_span = run(config)
    return Runs(
        config,
        first,
        rerun,
        new_span,
        versions_after_first,
        versions_after_rerun,
        models_after_first,
        models_after_rerun,
    )


Mount = Callable[..., Path]


@pytest.fixture
def tmpfs(tmp_path: Path, request: pytest.FixtureRequest) -> Mount:
    """Mounts small tmpfs filesystems under ``tmp_path``; all unmounted at teardown."""
    mounted: list[Path] = []

    def unmount_all() -> None:
        for path in reversed(mounted):
            if subprocess.run(["umount", str(path)], capture_output=True).returncode:
                subprocess.run(["umount", "-l", str(path)], check=False)

    request.addfinalizer(unmount_all)

    def mount(name: str, size: str = "1m", read_only: bool = False) -> Path:
        path = tmp_path / name
        path.mkdir(parents=True)
        result = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
            capture_output=True,
            text=True,
        )
        if result.returncode:
            pytest.fail(
                f"cannot mount a tmpfs at {path}: {result.stderr.strip()}; the output-check "
                "tests need root (CAP_SYS_ADMIN), as CI has"
            )
        mounted.append(path)
        if read_only:
            subprocess.run(["mount", "-o", "remount,ro", str(path)], check=True)
        return path

    return mount
