"""Shared fixtures: paths of the repository and small generated click data."""

from __future__ import annotations

import datetime
import os
import tempfile
from pathlib import Path

import pytest

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
    from pipeline import clickgen

    return clickgen.write_spans(root, start=start, days=days, rows=rows, seed=11)
