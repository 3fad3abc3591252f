"""The standard-library pre-flight checks (pipeline.devtools.preflight)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.devtools.preflight import REQUIRED, import_problem, interpreter_problem, main

REPO = Path(__file__).resolve().parents[2]
PREFLIGHT = REPO / "pipeline" / "devtools" / "preflight.py"

GOOD_LINUX = dict(system="Linux", machine="x86_64", libc=("glibc", "2.36"))


def _is_one_sentence(problem: str | None) -> None:
    assert problem, "expected a problem, got none"
    assert "\n" not in problem
    assert problem.endswith(".")


def test_required_python_is_3_10() -> None:
    assert REQUIRED == (3, 10)


def test_linux_x86_64_recent_glibc_is_fine() -> None:
    assert interpreter_problem((3, 10), **GOOD_LINUX) is None


def test_full_version_tuple_is_fine() -> None:
    assert interpreter_problem((3, 10, 13), **GOOD_LINUX) is None


def test_amd64_spelling_is_fine() -> None:
    assert interpreter_problem((3, 10), "Linux", "AMD64", ("glibc", "2.31")) is None


@pytest.mark.parametrize(
    ("version", "found"), [((3, 11), "3.11"), ((3, 9), "3.9"), ((2, 7), "2.7")]
)
def test_other_python_versions_are_rejected(version: tuple[int, int], found: str) -> None:
    problem = interpreter_problem(version, **GOOD_LINUX)
    _is_one_sentence(problem)
    assert f"Python {found}" in problem
    assert "3.10" in problem


def test_python_version_is_checked_before_the_platform() -> None:
    problem = interpreter_problem((3, 12), "Windows", "AMD64", ("", ""))
    assert "Python 3.12" in problem


def test_linux_aarch64_is_rejected() -> None:
    problem = interpreter_problem((3, 10), "Linux", "aarch64", ("glibc", "2.36"))
    _is_one_sentence(problem)
    assert "aarch64" in problem


@pytest.mark.parametrize("glibc", ["2.12", "2.16", "1.9"])
def test_old_glibc_is_rejected(glibc: str) -> None:
    problem = interpreter_problem((3, 10), "Linux", "x86_64", ("glibc", glibc))
    _is_one_sentence(problem)
    assert "glibc" in problem
    assert glibc in problem


@pytest.mark.parametrize("glibc", ["2.17", "2.28", "2.35.1"])
def test_glibc_2_17_or_newer_is_fine(glibc: str) -> None:
    assert interpreter_problem((3, 10), "Linux", "x86_64", ("glibc", glibc)) is None


def test_linux_without_glibc_is_musl() -> None:
    problem = interpreter_problem((3, 10), "Linux", "x86_64", ("", ""))
    _is_one_sentence(problem)
    assert "musl" in problem


def test_windows_is_rejected() -> None:
    problem = interpreter_problem((3, 10), "Windows", "AMD64", ("", ""))
    _is_one_sentence(problem)
    assert "Windows" in problem


def test_darwin_is_fine() -> None:
    assert interpreter_problem((3, 10), "Darwin", "arm64", ("", "")) is None
    assert interpreter_problem((3, 10), "Darwin", "x86_64", ("", "")) is None


def test_importable_module_is_fine() -> None:
    assert import_problem(("json",)) is None
    assert import_problem(()) is None


def test_missing_module_is_named() -> None:
    problem = import_problem(("json", "surely_not_a_module_xyz"))
    _is_one_sentence(problem)
    assert "surely_not_a_module_xyz" in problem


def test_first_failing_module_is_reported() -> None:
    problem = import_problem(("missing_module_one_xyz", "missing_module_two_xyz"))
    assert "missing_module_one_xyz" in problem
    assert "missing_module_two_xyz" not in problem


def test_main_interpreter_check_passes_here(capsys: pytest.CaptureFixture[str]) -> None:
    # The test suite itself runs on the venv's Python 3.10 on Linux x86_64.
    assert main(["interpreter"]) == 0
    assert capsys.readouterr().err == ""


def test_script_interpreter_check_exits_0_with_venv_python() -> None:
    result = subprocess.run(
        [sys.executable, str(PREFLIGHT), "interpreter"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "preflight:" not in result.stderr


def test_script_reports_a_problem_on_stderr_with_exit_1() -> None:
    # What the script does on another interpreter, simulated by patching the check.
    code = (
        "import sys, runpy; sys.argv = [sys.argv[0], 'interpreter'];"
        "import platform; platform.system = lambda: 'Windows';"
        f"runpy.run_path({str(PREFLIGHT)!r}, run_name='__main__')"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("preflight: Windows is not supported")
