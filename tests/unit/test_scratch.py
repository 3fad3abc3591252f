"""The run's own temporary directory: what TFX leaves there goes with the run."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from components.processes import process_start
from pipeline.run.guards import scratch


def test_tfx_sdist_for_beam_args_is_removed_with_the_run(tmp_path: Path) -> None:
    # TFX's own dependency helper, as BaseBeamExecutor calls it whenever beam_args
    # are set: it packages the installed tfx into a fresh mkdtemp() and never
    # removes it.
    from tfx.utils import dependency_utils

    with scratch.scratch_dir() as run_tmp:
        assert tempfile.gettempdir() == str(run_tmp)
        assert os.environ["TMPDIR"] == str(run_tmp)  # Beam's worker processes
        args = dependency_utils.make_beam_dependency_flags(["--direct_num_workers=1"])
        sdist = Path(args[-1].split("=", 1)[1])
        assert sdist.is_file() and sdist.stat().st_size > 1_000_000
        assert run_tmp in sdist.parents
    assert not sdist.exists() and not run_tmp.exists()
    assert tempfile.gettempdir() != str(run_tmp)
    assert os.environ.get("TMPDIR") != str(run_tmp)


def test_the_directory_goes_on_failure_too() -> None:
    with pytest.raises(RuntimeError), scratch.scratch_dir() as run_tmp:
        (run_tmp / "partial").write_bytes(b"x")
        raise RuntimeError("component failed")
    assert not run_tmp.exists()


def test_directories_of_killed_runs_are_removed_and_live_ones_kept(tmp_path: Path) -> None:
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead_pid = int(gone.stdout)
    me, my_start = os.getpid(), process_start(os.getpid())
    dead = tmp_path / f"{scratch.PREFIX}{dead_pid}-12345-abc"
    reused = tmp_path / f"{scratch.PREFIX}{me}-1-abc"  # this pid, another start time
    live = tmp_path / f"{scratch.PREFIX}{me}-{my_start}-abc"
    other = tmp_path / "tfx-run-notapid"
    for path in (dead, reused, live, other):
        (path / "build").mkdir(parents=True)
    assert sorted(scratch.remove_dead(tmp_path)) == sorted([dead, reused])
    assert live.exists() and other.exists()
