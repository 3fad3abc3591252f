"""Fixtures every test folder shares, and the ``requires_root`` skip.

Helpers a test imports are in :mod:`tests.support`; only fixtures and hooks live here.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cli import REPO
from tests.support.data import E2E_START, Runs, run_clicks_pipeline, write_click_spans
from tests.support.mounts import Mount, TmpfsMounts

# TensorFlow's C++ INFO lines add nothing to test output.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def pytest_configure(config: pytest.Config) -> None:
    """Points Airflow at a throw-away home before anything imports it."""
    os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="airflow-home-")
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skips ``requires_root`` tests when not root, saying why in one line.

    ``@pytest.mark.requires_root("why", unless_on_path="binary")`` needs root only
    to apt-get ``binary``: with it already on PATH the test runs as anyone.
    """
    if os.geteuid() == 0:
        return
    for item in items:
        marker = item.get_closest_marker("requires_root")
        if marker is None:
            continue
        binary = marker.kwargs.get("unless_on_path")
        if binary and shutil.which(binary):
            continue
        why = marker.args[0] if marker.args else "it changes the system"
        missing = f" ({binary} is not installed)" if binary else ""
        reason = f"needs root: {why}{missing}; CI runs it as root"
        item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(autouse=True)
def _environment_restored() -> Iterator[None]:
    """Gives each test back the environment it started with.

    Airflow's PythonOperator writes ``AIRFLOW_CTX_*`` into ``os.environ`` when a test
    runs a DAG in-process (``dag.test``); a pipeline run started later by another
    test would inherit ``AIRFLOW_CTX_DAG_ID`` and take itself for an Airflow task.
    """
    saved = dict(os.environ)
    yield
    if os.environ != saved:
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture(scope="session")
def repo() -> Path:
    """The repository root."""
    return REPO


@pytest.fixture(scope="session")
def clicks_runs(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    """The session's shared pipeline runs (see :class:`Runs`); treat as read-only."""
    return run_clicks_pipeline(tmp_path_factory.mktemp("clicks"))


@pytest.fixture(scope="module")
def one_day(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One small span of click data (runs must be refused for their outputs alone)."""
    root = tmp_path_factory.mktemp("one-day")
    write_click_spans(root, days=1, rows=200, start=E2E_START)
    return root


@pytest.fixture(scope="module")
def two_days(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two days of click data (500 rows each) from :data:`E2E_START`."""
    root = tmp_path_factory.mktemp("spans") / "data"
    write_click_spans(root, days=2, rows=500)
    return root


@pytest.fixture
def tmpfs(tmp_path: Path, request: pytest.FixtureRequest) -> Mount:
    """Mounts small tmpfs filesystems under ``tmp_path``; all unmounted at teardown.

    Tests using it must be marked ``requires_root``.
    """
    mounts = TmpfsMounts(tmp_path)
    request.addfinalizer(mounts.unmount_all)
    return mounts.mount
