"""Helpers the tests share: paths, the in-process CLI, generated data, fault runners.

Fixtures live in the ``conftest.py`` files; everything here is plain code that a
test module imports (``from tests.support.cli import run_cli``).
"""
