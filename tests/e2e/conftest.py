"""Everything under tests/e2e is an end-to-end test: real pipeline runs, real processes.

The ``e2e`` marker is applied here, by folder, so ``pytest -m "not e2e"`` (``make
test-fast``) leaves out exactly this folder and a module cannot forget the marker.
"""

from __future__ import annotations

from pathlib import Path

import pytest

E2E_DIR = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Marks every test collected from this folder ``e2e``."""
    for item in items:
        if E2E_DIR in item.path.resolve().parents:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def chromium() -> str:
    """Headless Chromium, installed from Debian when the machine has none (as root)."""
    from pipeline.devtools.services import ensure_debian_package

    return ensure_debian_package("chromium", "chromium")
