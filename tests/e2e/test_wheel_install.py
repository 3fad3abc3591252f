"""A wheel install works outside the repository.

The wheel is built from a copy of the sources, installed into a fresh virtualenv with
its dependencies pinned to uv.lock, and run from a directory that is not the
repository: ``tfxp --help``, then one ``tfxp run`` of the bundled config on a copy of
the bundled click data, which must push a model. This is what a user who installs the
package (not a clone) gets: the bundled configs resolve schemas, data and outputs
against the working directory, and every import the run needs is a declared
dependency.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# What the wheel is built from; tests, data and outputs stay out of the copy.
WHEEL_SOURCES = ("pyproject.toml", "README.md", "pipeline", "components")
# Building and installing come from uv's cache (filled by `make`); the pipeline run is
# the bundled config's (~1-2 min on an idle machine, more on a loaded one).
INSTALL_TIMEOUT_SECONDS = 900
RUN_TIMEOUT_SECONDS = 1800
OUTPUT_TAIL_CHARS = 4000
# The interpreter .venv was made from: uv builds with it and makes the fresh venv from
# it (a venv's own python would nest venvs; outside the repository no .python-version
# selects one).
BASE_PYTHON = (
    Path(sys.base_prefix) / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}"
)


def _uv() -> str:
    """Returns the uv binary `make` installs (or one on PATH); skips without one."""
    bundled = REPO / ".tools" / "bin" / "uv"
    if bundled.exists():
        return str(bundled)
    on_path = shutil.which("uv")
    if on_path is None:
        pytest.skip("uv not found: run `make venv` (it installs uv into .tools/)")
    return on_path


def _clean_env() -> dict[str, str]:
    """This process's environment less what points at the repository's venv or config.

    Returns:
        The environment for the build, the install and the installed ``tfxp``.
    """
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("VIRTUAL_ENV", "PYTHONPATH", "UV_PROJECT_ENVIRONMENT", "PYTHONHOME")
        and not key.startswith("PIPELINE_")
    }
    env["UV_PYTHON_DOWNLOADS"] = "never"
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return env


def _tail(result: subprocess.CompletedProcess[str]) -> str:
    """Returns the end of a finished command's output, for an assertion message."""
    output = f"{result.stdout}\n{result.stderr}"
    return output[-OUTPUT_TAIL_CHARS:]


def _run(
    args: list[str], cwd: Path, timeout: float, what: str, *, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Runs a command; fails the test, with its output's tail, if it fails or hangs.

    Args:
        args: The command.
        cwd: Its working directory.
        timeout: Seconds before it is killed and the test fails.
        what: What the command does, for the failure message.
        check: False: return a failed command instead of failing the test.

    Returns:
        The finished command.
    """
    try:
        result = subprocess.run(
            args,
            cwd=cwd,
            env=_clean_env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except subprocess.TimeoutExpired as timed_out:
        pytest.fail(f"{what}: no result after {timeout:.0f} s: {' '.join(args)}\n{timed_out}")
    if check:
        assert result.returncode == 0, (
            f"{what} exited {result.returncode}: {' '.join(args)}\n{_tail(result)}"
        )
    return result


def _uv_offline_first(args: list[str], cwd: Path, what: str) -> None:
    """Runs a uv command from the cache alone, or with the package index if that fails.

    ``make`` filled uv's cache with every locked package and the build backend, so
    the offline attempt normally succeeds; the index is only the fall-back for a
    pruned cache.

    Args:
        args: The uv command after the uv binary.
        cwd: Its working directory.
        what: What the command does, for the failure message.
    """
    uv = _uv()
    offline = _run([uv, *args, "--offline"], cwd, INSTALL_TIMEOUT_SECONDS, what, check=False)
    if offline.returncode != 0:
        _run([uv, *args], cwd, INSTALL_TIMEOUT_SECONDS, what)


def _build_wheel(scratch: Path) -> Path:
    """Builds the project's wheel from a copy of its sources.

    The copy keeps setuptools' build/ and egg-info out of the working tree, which
    the editable install of .venv shares.

    Args:
        scratch: A directory for the copy and the wheel.

    Returns:
        The wheel file.
    """
    source = scratch / "source"
    source.mkdir()
    for name in WHEEL_SOURCES:
        origin = REPO / name
        if origin.is_dir():
            shutil.copytree(origin, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(origin, source / name)
    dist = scratch / "dist"
    _uv_offline_first(
        ["build", "--wheel", "--python", str(BASE_PYTHON), "--out-dir", str(dist), str(source)],
        source,
        "uv build",
    )
    wheels = sorted(dist.glob("*.whl"))
    assert len(wheels) == 1, f"expected one wheel in {dist}, found {wheels}"
    return wheels[0]


def _install(wheel: Path, scratch: Path) -> Path:
    """Installs ``wheel`` into a fresh venv, its dependencies pinned to uv.lock.

    Args:
        wheel: The built wheel.
        scratch: A directory for the venv and the constraints file.

    Returns:
        The venv's bin directory.
    """
    uv = _uv()
    constraints = scratch / "constraints.txt"
    _run(
        [
            uv,
            "export",
            "--frozen",
            "--no-dev",
            "--no-emit-project",
            "--no-hashes",
            "--output-file",
            str(constraints),
        ],
        REPO,
        INSTALL_TIMEOUT_SECONDS,
        "uv export",
    )
    venv = scratch / "venv"
    _run(
        [uv, "venv", "--python", str(BASE_PYTHON), str(venv)],
        scratch,
        INSTALL_TIMEOUT_SECONDS,
        "uv venv",
    )
    _uv_offline_first(
        [
            "pip",
            "install",
            "--python",
            str(venv / "bin" / "python"),
            "--constraints",
            str(constraints),
            str(wheel),
        ],
        scratch,
        "uv pip install of the wheel",
    )
    return venv / "bin"


def _workdir(scratch: Path) -> Path:
    """A working directory outside the repository with the bundled data and schemas.

    Args:
        scratch: Where to make it.

    Returns:
        The directory, laid out as the bundled config expects: ``data/clicks`` and
        ``schemas/``.
    """
    work = scratch / "work"
    shutil.copytree(REPO / "data" / "clicks", work / "data" / "clicks")
    shutil.copytree(REPO / "schemas", work / "schemas")
    return work


def test_wheel_installs_and_runs_outside_the_repository(tmp_path: Path) -> None:
    """Builds, installs into a fresh venv, and runs ``tfxp`` from another directory."""
    bin_dir = _install(_build_wheel(tmp_path), tmp_path)
    work = _workdir(tmp_path)

    where = _run(
        [
            str(bin_dir / "python"),
            "-c",
            "import pipeline, components; print(pipeline.__file__); print(components.__file__)",
        ],
        work,
        INSTALL_TIMEOUT_SECONDS,
        "import of the installed packages",
    )
    for module_file in where.stdout.split():
        assert Path(module_file).is_relative_to(bin_dir.parent), (
            f"imported {module_file}, not the wheel installed in {bin_dir.parent}"
        )

    help_text = _run(
        [str(bin_dir / "tfxp"), "--help"], work, INSTALL_TIMEOUT_SECONDS, "tfxp --help"
    )
    assert "run" in help_text.stdout, f"tfxp --help lists no `run`:\n{help_text.stdout}"

    run = _run([str(bin_dir / "tfxp"), "run"], work, RUN_TIMEOUT_SECONDS, "tfxp run")
    served = work / "outputs" / "serving" / "clicks"
    pushed = sorted(served.glob("*/saved_model.pb"))
    assert pushed, (
        f"tfxp run exited 0 but pushed no model under {served}; "
        f"outputs: {sorted(p.name for p in (work / 'outputs').glob('*'))}\n{_tail(run)}"
    )
