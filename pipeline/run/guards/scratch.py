"""One temporary directory per run (or Airflow task), removed when it ends.

TFX and Beam write temporary files through Python's :mod:`tempfile`, and not all of
them clean up. The big one: with any ``beam_args`` at all, TFX's
``BaseBeamExecutor`` packages the installed ``tfx`` as an sdist for every
Beam-powered component (``tfx.utils.dependency_utils.build_ephemeral_package``, for
remote runners), into a fresh ``tempfile.mkdtemp()`` that it never removes: 42 MB
per component per run. A daily job with Beam arguments would fill ``/tmp`` (it
filled 80 GB here during benchmarks). Inside :func:`scratch_dir` every such file
goes to the run's own directory (``tempfile.tempdir`` for this process, ``TMPDIR``
for Beam's worker processes), which is removed at the end, failure and Ctrl-C
included. A run killed outright leaves it behind; the next run removes directories
whose owner process is gone.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from components import processes

PREFIX = "tfx-run-"


def _owner(name: str) -> tuple[int, str] | None:
    # <PREFIX><pid>-<start ticks>-<random>
    parts = name[len(PREFIX) :].split("-", 2)
    if len(parts) != 3 or not parts[0].isdigit():
        return None
    return int(parts[0]), parts[1]


def remove_dead(base: str | os.PathLike[str]) -> list[Path]:
    """Removes run directories under ``base`` whose owner process has ended.

    Args:
        base: The system temporary directory the run directories are made in.

    Returns:
        The directories removed.
    """
    removed = []
    for path in Path(base).glob(f"{PREFIX}*"):
        owner = _owner(path.name)
        if owner is None or not path.is_dir():
            continue
        # Gone, or the pid now belongs to a process started at another time.
        if not processes.is_running(*owner):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


@contextlib.contextmanager
def scratch_dir() -> Iterator[Path]:
    """Points temporary files at a directory of this run, and removes it afterwards.

    Yields:
        The run's temporary directory.
    """
    base = tempfile.gettempdir()
    remove_dead(base)
    start = processes.process_start(os.getpid()) or "0"
    path = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-{start}-", dir=base))
    saved_tempdir, saved_env = tempfile.tempdir, os.environ.get("TMPDIR")
    tempfile.tempdir = str(path)
    os.environ["TMPDIR"] = str(path)
    try:
        yield path
    finally:
        tempfile.tempdir = saved_tempdir
        if saved_env is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = saved_env
        shutil.rmtree(path, ignore_errors=True)
