"""The repository's path and the pipeline CLI run in-process or as a subprocess."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import logging
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


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


def run_cli_process(
    *args: str, cwd: Path = REPO, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """Runs ``python -m pipeline ARGS`` in a child process, without ``PIPELINE_*`` settings.

    Args:
        *args: The CLI arguments after ``python -m pipeline``.
        cwd: The working directory (relative config paths resolve from it).
        timeout: Seconds before the run is killed and the test fails.

    Returns:
        The finished process with its text output.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIPELINE_")}
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=timeout,
    )


def error_paragraph(stderr: str) -> str:
    """The one ``error: ...`` line a failed CLI run prints (asserts there is exactly one).

    Args:
        stderr: The CLI's standard error.

    Returns:
        That line.
    """
    errors = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, stderr[-3000:]
    return errors[0]
